//! Names that go into a URL as they are (SCM ids, bucket names, path segments), checked before
//! any call: a leaf module, so the request, the sources and the stores share one rule without
//! the stores importing the sources (pure).

/// A name that goes into a URL path as one segment as it is: 1 to `max` letters, digits, `_`,
/// `-` (and `.` when `dots`), never only dots (`.` and `..` are folded away by URL parsing).
pub fn path_segment_ok(name: &str, max: usize, dots: bool) -> bool {
    (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-') || (dots && b == b'.'))
        && !name.bytes().all(|b| b == b'.')
}

/// An SCM certificate id (`scs1700000000000`), as a path segment of ShowCertificate: 1 to 64
/// letters, digits, `_` or `-`.
pub fn scm_id_ok(id: &str) -> bool {
    path_segment_ok(id, 64, false)
}

/// Why `id` is refused as an SCM certificate id.
pub fn scm_id_message(id: &str) -> String {
    let shown: String = id.chars().take(80).collect();
    format!("`{shown}` is not an SCM certificate id (1 to 64 letters, digits, `_` or `-`)")
}

/// S3 bucket names (legacy ones included: upper-case and `_` in us-east-1), as a path segment.
pub fn s3_bucket_name_ok(bucket: &str) -> bool {
    path_segment_ok(bucket, 255, true)
}

/// OBS's bucket naming rules; anything else could steer the virtual-hosted URL to another host.
pub fn obs_bucket_name_ok(bucket: &str) -> bool {
    let b = bucket.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !bucket.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_change_the_url_are_refused() {
        assert!(scm_id_ok("scs1700000000000"));
        for bad in ["", "..", "scs/../x", "a b", &"x".repeat(65)] {
            assert!(!scm_id_ok(bad), "{bad}");
        }
        assert!(obs_bucket_name_ok("example-certs"));
        for bad in ["Ab", "a..b", "-ab", "evil.com/x", "ab"] {
            assert!(!obs_bucket_name_ok(bad), "{bad}");
        }
        assert!(s3_bucket_name_ok("Legacy_Bucket") && !s3_bucket_name_ok("."));
    }
}
