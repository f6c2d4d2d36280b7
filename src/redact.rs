//! Parser messages quote the values they reject (`invalid type: string "-----BEGIN PRIVATE
//! KEY-----…"`); a request's or store's values may be keys, so messages are stripped of them
//! before they reach a result or a log line (pure).

/// A serde message without the values it quotes: `string "…"` becomes `a string`, and a
/// backtick-quoted value that could be content rather than a name (long, multi-line or PEM) is
/// elided. Names (`unknown field `prefx``) stay: they are what the user must fix.
pub fn serde_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        out.push_str("a string");
        rest = skip_quoted(&rest[i + "string ".len()..]);
    }
    out.push_str(rest);
    elide_backticked(&out)
}

/// The text after the Debug-quoted string at the start of `s` (escapes honoured).
fn skip_quoted(s: &str) -> &str {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return &s[i + 1..],
            _ => {}
        }
    }
    ""
}

fn elide_backticked(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len() < 3 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        // Odd parts sit between a pair of backticks.
        let inside = i % 2 == 1 && i + 1 < parts.len();
        if inside && (part.len() > 64 || part.contains('\n') || part.contains("-----")) {
            out.push('…');
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_are_dropped() {
        let m = r#"invalid type: string "-----BEGIN PRIVATE KEY-----\nMIIE\"x", expected struct CertificateSource"#;
        assert_eq!(
            serde_message(m),
            "invalid type: a string, expected struct CertificateSource"
        );
        assert_eq!(
            serde_message(r#"invalid value: string "a", expected x; string "b""#),
            "invalid value: a string, expected x; a string"
        );
    }

    #[test]
    fn names_stay_and_content_in_backticks_goes() {
        let m = "unknown field `prefx`, expected one of `bucket`, `keys`, `prefix`";
        assert_eq!(serde_message(m), m);
        let m = "unknown variant `-----BEGIN EC PRIVATE KEY-----\nabc`, expected `s3`";
        assert_eq!(serde_message(m), "unknown variant `…`, expected `s3`");
    }
}
