//! AWS Signature Version 4, in the specification's steps
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>), each a
//! function named after its step. The AWS test suite's vectors pin every step, and the official
//! `aws-sigv4` crate (a dev-dependency) checks the result case by case; it is not in the release
//! binary, where it cost about a tenth of a MB.
//!
//! Two styles: every service but S3 encodes the path a second time and normalizes it, S3 encodes
//! it once as sent, does not normalize it, and sends and signs `x-amz-content-sha256`.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::huawei::sign::{canonical_query, hex_sha256, sdk_date, uri_decode, uri_encode};
use crate::secret::Secret;

/// The algorithm name that opens the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The function's own AWS credentials (the Lambda execution role's, from the environment).
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How a service wants its requests signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Secrets Manager, SSM and most services: path encoded twice, normalized, no payload header.
    Standard,
    /// S3: path encoded once as sent, not normalized, `x-amz-content-sha256` sent and signed.
    S3,
}

/// What to sign.
#[derive(Debug, Clone, Copy)]
pub struct Signable<'a> {
    pub method: &'a str,
    /// The full URL, already percent-encoded, exactly as it will be sent.
    pub url: &'a str,
    /// Headers to sign besides `host` and the `x-amz-*` ones the signer adds.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The rules of a [`Style`], and whether a session token is signed (it always is, but for one
/// vector of the test suite).
#[derive(Debug, Clone, Copy)]
struct Rules {
    encode_path_twice: bool,
    normalize_path: bool,
    content_sha256_header: bool,
    sign_session_token: bool,
}

impl Rules {
    fn of(style: Style) -> Self {
        let standard = style == Style::Standard;
        Self {
            encode_path_twice: standard,
            normalize_path: standard,
            content_sha256_header: !standard,
            sign_session_token: true,
        }
    }
}

/// The path with dot segments removed and empty segments merged, a trailing `/` kept (RFC 3986
/// normalization as SigV4 applies it for every service but S3).
pub fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if trailing && out != "/" {
        out.push('/');
    }
    out
}

/// `CanonicalURI`: each segment of the path as sent URI-encoded, so an encoded path is encoded a
/// second time (`%` becomes `%25`), after normalization; or (S3) the path decoded and encoded
/// once, `/` kept, not normalized.
pub fn canonical_uri(path: &str, encode_twice: bool, normalize: bool) -> String {
    let path = if normalize {
        normalize_path(path)
    } else {
        path.to_string()
    };
    let segment = |s: &str| {
        if encode_twice {
            uri_encode(s)
        } else {
            uri_encode(&uri_decode(s))
        }
    };
    let out = path.split('/').map(segment).collect::<Vec<_>>().join("/");
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// `CanonicalHeaders` and `SignedHeaders`: names lower-cased, values trimmed with each run of
/// white space made one space, sorted by name, a repeated name's values joined by `,` in order.
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut sorted: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    // Stable: a repeated name keeps its values' order.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in sorted {
        match merged.last_mut() {
            Some((last, values)) if *last == k => {
                values.push(',');
                values.push_str(&v);
            }
            _ => merged.push((k, v)),
        }
    }
    let lines = merged.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = merged
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (lines, names)
}

/// ```text
/// CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
///                    SignedHeaders \n HexEncode(Hash(Payload))
/// ```
pub fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &str,
    signed: &str,
    payload_hash: &str,
) -> String {
    format!("{method}\n{uri}\n{query}\n{headers}\n{signed}\n{payload_hash}")
}

/// `CredentialScope = YYYYMMDD/region/service/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// `StringToSign = Algorithm \n RequestDateTime \n CredentialScope \n HexEncode(Hash(CanonicalRequest))`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `SigningKey = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    hmac(&k_service, "aws4_request")
}

/// `Signature = HexEncode(HMAC(SigningKey, StringToSign))`.
pub fn signature(key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign))
}

/// Signs `req` for `service` in `region` at `time`; returns the headers to add (`authorization`,
/// `x-amz-date`, `x-amz-security-token` with temporary keys, `x-amz-content-sha256` for S3).
pub fn sign(
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    style: Style,
    req: &Signable<'_>,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    sign_with(credentials, region, service, Rules::of(style), req, time)
}

fn sign_with(
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    rules: Rules,
    req: &Signable<'_>,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let url = reqwest::Url::parse(req.url).map_err(|e| format!("URL: {e}"))?;
    // A Host header given wins over the URL's (as in the test suite's requests).
    let given_host = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.to_string());
    let host = match (given_host, url.host_str(), url.port()) {
        (Some(h), _, _) => h,
        (None, Some(h), Some(p)) => format!("{h}:{p}"),
        (None, Some(h), None) => h.to_string(),
        (None, None, _) => return Err("the URL has no host".into()),
    };
    // The path and query as the caller wrote them (the URL type would drop `.` segments).
    let after_authority = req.url.split_once("://").map_or(req.url, |(_, rest)| {
        rest.find('/').map_or("", |i| &rest[i..])
    });
    let (raw_path, raw_query) = after_authority
        .split('#')
        .next()
        .unwrap_or_default()
        .split_once('?')
        .unwrap_or((after_authority.split('#').next().unwrap_or_default(), ""));
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    let unix = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "a time before 1970")?
        .as_secs();
    let amz_date = sdk_date(i64::try_from(unix).map_err(|_| "a time too far")?);
    let date = &amz_date[..8];
    let payload_hash = hex_sha256(req.body);

    let mut added: Vec<(String, String)> = vec![("x-amz-date".into(), amz_date.clone())];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token".into(), token.expose().to_string()));
    }
    if rules.content_sha256_header {
        added.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    }
    let mut signed: Vec<(String, String)> = vec![("host".into(), host)];
    signed.extend(
        req.headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    signed.extend(
        added
            .iter()
            .filter(|(k, _)| rules.sign_session_token || k != "x-amz-security-token")
            .cloned(),
    );

    let query: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_decode(k), uri_decode(v))
        })
        .collect();
    let (headers, signed_names) = canonical_headers(&signed);
    let creq = canonical_request(
        &req.method.to_ascii_uppercase(),
        &canonical_uri(raw_path, rules.encode_path_twice, rules.normalize_path),
        &canonical_query(&query),
        &headers,
        &signed_names,
        &payload_hash,
    );
    let scope = scope(date, region, service);
    let key = signing_key(
        credentials.secret_access_key.expose(),
        date,
        region,
        service,
    );
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    added.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_names}, Signature={sig}",
            credentials.access_key_id
        ),
    ));
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::time::{Duration, UNIX_EPOCH};

    #[derive(Deserialize)]
    struct Suite {
        access_key: String,
        secret_key: String,
        region: String,
        service: String,
        vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        method: String,
        path: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: String,
        session_token: Option<String>,
        authorization: String,
        /// The suite's vectors for services that encode the path once (as S3 does).
        #[serde(default)]
        encode_path_once: bool,
        /// The token is sent but added after signing, so it is not signed.
        #[serde(default)]
        omit_session_token: bool,
    }

    /// 2015-08-30T12:36:00Z, the suite's date.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn encode(s: &str) -> String {
        crate::huawei::sign::uri_encode(s)
    }

    #[test]
    fn reproduces_the_aws_sigv4_test_suite() {
        let suite: Suite =
            serde_json::from_str(include_str!("../../tests/vectors/aws-sigv4.json")).unwrap();
        assert!(suite.vectors.len() >= 10);
        for v in &suite.vectors {
            let host = v
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, h)| h.clone())
                .unwrap();
            let query: Vec<String> = v
                .query
                .iter()
                .map(|(k, val)| format!("{}={}", encode(k), encode(val)))
                .collect();
            let path: String = v.path.split('/').map(encode).collect::<Vec<_>>().join("/");
            let url = if query.is_empty() {
                format!("https://{host}{path}")
            } else {
                format!("https://{host}{path}?{}", query.join("&"))
            };
            let headers: Vec<(&str, &str)> = v
                .headers
                .iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("x-amz-date")
                        && !k.eq_ignore_ascii_case("x-amz-security-token")
                })
                .map(|(k, val)| (k.as_str(), val.as_str()))
                .collect();
            let creds = AwsCredentials {
                access_key_id: suite.access_key.clone(),
                secret_access_key: Secret::new(suite.secret_key.clone()),
                session_token: v.session_token.clone().map(Secret::new),
            };
            let mut rules = Rules::of(Style::Standard);
            rules.encode_path_twice = !v.encode_path_once;
            rules.sign_session_token = !v.omit_session_token;
            let out = sign_with(
                &creds,
                &suite.region,
                &suite.service,
                rules,
                &Signable {
                    method: &v.method,
                    url: &url,
                    headers: &headers,
                    body: v.body.as_bytes(),
                },
                suite_time(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            let auth = out
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, a)| a.as_str())
                .unwrap();
            assert_eq!(auth, v.authorization, "vector {}", v.name);
        }
    }

    /// The official crate's headers for the same request (its settings for `style`).
    fn official(
        creds: &AwsCredentials,
        region: &str,
        service: &str,
        style: Style,
        req: &Signable<'_>,
        time: SystemTime,
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode,
        };
        let mut settings = SigningSettings::default();
        if style == Style::S3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let identity = aws_credential_types::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose().to_string(),
            creds.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "test",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            req.method,
            req.url,
            req.headers.iter().copied(),
            SignableBody::Bytes(req.body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn agrees_with_the_official_signer_case_by_case() {
        let json = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.GetSecretValue"),
        ];
        let spaced = [
            ("X-Custom", "  spaced   out  value "),
            ("x-custom", "second"),
        ];
        type Case<'a> = (Style, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a [u8]);
        let cases: [Case; 7] = [
            (
                Style::Standard,
                "POST",
                "https://secretsmanager.eu-west-1.amazonaws.com/",
                &json,
                br#"{"SecretId":"prod/a b+c"}"#,
            ),
            (
                Style::Standard,
                "POST",
                "http://127.0.0.1:4566/",
                &json,
                b"{}",
            ),
            (
                Style::Standard,
                "GET",
                "https://ssm.us-east-1.amazonaws.com/a/./b/../c//d%20e/?b=2&a=1&a=0&c=%2A%20x",
                &spaced,
                b"",
            ),
            (
                Style::S3,
                "GET",
                "https://certs.s3.eu-west-1.amazonaws.com/live/example.com/fullchain.pem",
                &[],
                b"",
            ),
            (
                Style::S3,
                "GET",
                "http://127.0.0.1:9000/my-bucket/a%20b%2Bc/%E2%9C%93/x~y_z.pem",
                &[],
                b"",
            ),
            (
                Style::S3,
                "GET",
                "https://s3.amazonaws.com/bucket/a/./b//c",
                &[],
                b"",
            ),
            (
                Style::S3,
                "PUT",
                "https://bucket.s3.amazonaws.com/k?versionId=3%2F4",
                &[("content-type", "text/plain")],
                b"body",
            ),
        ];
        let time = suite_time() + Duration::from_secs(86_400 * 4_000 + 3_599);
        for token in [None, Some("FwoGZXIvYXdzE/+=token")] {
            let creds = AwsCredentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                session_token: token.map(Secret::new),
            };
            for (style, method, url, headers, body) in cases {
                let req = Signable {
                    method,
                    url,
                    headers,
                    body,
                };
                let service = if style == Style::S3 { "s3" } else { "ssm" };
                let mut ours = sign(&creds, "eu-west-1", service, style, &req, time).unwrap();
                let mut theirs = official(&creds, "eu-west-1", service, style, &req, time);
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{style:?} {method} {url} token={token:?}");
            }
        }
    }
}
