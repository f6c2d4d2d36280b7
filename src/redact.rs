//! Parser messages quote the values they reject (`invalid type: string "-----BEGIN PRIVATE
//! KEY-----…"`), and upstream services quote the request they expected (AWS's
//! `SignatureDoesNotMatch` carries the canonical request, security token included); both are
//! stripped of what may be a secret before they reach a result, a notification or a log line
//! (pure).

/// A JSON value's shape for `Debug`: keys and numbers as they are, every string as its length
/// (a request may carry a private key; `{:?}` on it must not print one).
pub struct Shape<'a>(pub &'a serde_json::Value);

impl std::fmt::Debug for Shape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use serde_json::Value;
        match self.0 {
            Value::String(s) => write!(f, "<{} chars>", s.chars().count()),
            Value::Array(a) => f.debug_list().entries(a.iter().map(Shape)).finish(),
            Value::Object(o) => f
                .debug_map()
                .entries(o.iter().map(|(k, v)| (k, Shape(v))))
                .finish(),
            other => write!(f, "{other}"),
        }
    }
}

/// The longest upstream message kept: enough for any real error text.
const MAX_UPSTREAM: usize = 400;

/// An upstream service's error text (a CDN, store or notification answer) made safe to report:
/// a quoted canonical request or string to sign is cut off, PEM blocks, credential and
/// signature fields, token and key-like values are replaced by `[redacted]`, control characters
/// become spaces and the text is cut to a few hundred characters.
pub fn upstream(msg: &str) -> String {
    let mut text = cut_quoted_request(msg);
    text = cut_pem(&text);
    text = redact_xml_fields(&text);
    text = redact_named_values(&text);
    text = redact_tokens(&text);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if out.chars().count() > MAX_UPSTREAM {
        out = out.chars().take(MAX_UPSTREAM).collect::<String>() + "…";
    }
    out
}

const REDACTED: &str = "[redacted]";

/// AWS quotes "The Canonical String for this request should have been '…'" and "The
/// String-to-Sign should have been '…'"; OBS and Huawei's gateway quote theirs too. Everything
/// from the first such phrase on is dropped.
fn cut_quoted_request(msg: &str) -> String {
    const PHRASES: [&str; 6] = [
        "the canonical string",
        "canonical request",
        "canonicalrequest",
        "string-to-sign",
        "string to sign",
        "stringtosign",
    ];
    let lower = msg.to_ascii_lowercase();
    match PHRASES.iter().filter_map(|p| lower.find(p)).min() {
        // Lower-casing ASCII keeps byte offsets, so `at` is a boundary of `msg` too.
        Some(at) => format!("{} [the quoted request is removed]", msg[..at].trim_end()),
        None => msg.to_string(),
    }
}

/// PEM blocks (a BEGIN without its END takes the rest of the text).
fn cut_pem(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(begin) = rest.find("-----BEGIN") {
        out.push_str(&rest[..begin]);
        out.push_str(REDACTED);
        let after = &rest[begin + "-----BEGIN".len()..];
        rest = match after.find("-----END") {
            Some(end) => {
                let tail = &after[end + "-----END".len()..];
                // Past the END line's closing dashes.
                match tail.find("-----") {
                    Some(d) => &tail[d + 5..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// XML elements that carry signing material (`<StringToSign>`, `<SignatureProvided>`,
/// `<AWSAccessKeyId>`, `<CanonicalRequestBytes>`…): their content goes.
fn redact_xml_fields(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|c| open + c) else {
            break;
        };
        let tag = &rest[open + 1..close];
        out.push_str(&rest[..=close]);
        rest = &rest[close + 1..];
        let lower = tag.to_ascii_lowercase();
        let sensitive = !tag.starts_with('/')
            && [
                "sign",
                "canonical",
                "accesskey",
                "token",
                "credential",
                "secret",
            ]
            .iter()
            .any(|w| lower.contains(w));
        if sensitive {
            let end = format!("</{tag}>");
            let stop = rest.find(&end).unwrap_or(rest.len());
            out.push_str(REDACTED);
            rest = &rest[stop..];
        }
    }
    out.push_str(rest);
    out
}

/// `name=value` and `name: value` pairs whose name says credential, signature or token.
fn redact_named_values(msg: &str) -> String {
    const NAMES: [&str; 9] = [
        "security-token",
        "security_token",
        "securitytoken",
        "credential",
        "signature",
        "access",
        "token",
        "authorization",
        "sign",
    ];
    let bytes = msg.as_bytes();
    let lower = msg.to_ascii_lowercase();
    let mut out = String::with_capacity(msg.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let hit = NAMES.iter().find(|n| {
            // Bytes, not `str` slices: `i` may sit inside a multi-byte character.
            lower.as_bytes()[i..].starts_with(n.as_bytes())
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && matches!(bytes.get(i + n.len()), Some(b'=' | b':'))
        });
        let Some(name) = hit else {
            i += 1;
            continue;
        };
        let mut v = i + name.len() + 1;
        while v < bytes.len() && matches!(bytes[v], b' ' | b'"' | b'\'') {
            v += 1;
        }
        let authorization = *name == "authorization";
        let mut end = v;
        while end < bytes.len() {
            let b = bytes[end];
            let stops = if authorization {
                b == b'\n'
            } else {
                b.is_ascii_whitespace() || matches!(b, b',' | b'"' | b'\'' | b'&' | b'<' | b';')
            };
            if stops {
                break;
            }
            end += 1;
        }
        if end > v {
            out.push_str(&msg[copied..v]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&msg[copied..]);
    out
}

/// Runs that look like keys or tokens: 40 or more base64/hex characters, or 16–32 upper-case
/// letters and digits mixed (access key ids: `AKIA…`, Huawei's 20-character AKs). Request ids
/// (32 hex) and error codes stay.
fn redact_tokens(msg: &str) -> String {
    let token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
    let mut out = String::with_capacity(msg.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let long = word.len() >= 40;
        let upper_id = (16..=32).contains(&word.len())
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && word.chars().any(|c| c.is_ascii_digit())
            && word.chars().filter(|c| c.is_ascii_uppercase()).count() >= 4;
        if long || upper_id {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in msg.chars() {
        if token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

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

    /// What AWS answers a wrong signature with (JSON protocols quote it in `message`).
    const AWS_ECHO: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:secretsmanager.us-east-1.amazonaws.com\nx-amz-date:20261202T101010Z\nx-amz-security-token:IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample\n\ncontent-type;host;x-amz-date;x-amz-security-token\n9f2ab1'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261202T101010Z\n20261202/us-east-1/secretsmanager/aws4_request\nabc'\n";

    #[test]
    fn an_aws_signature_echo_keeps_its_advice_and_loses_the_request() {
        let m = upstream(AWS_ECHO);
        assert!(!m.contains("IQoJ"), "{m}");
        assert!(!m.contains("x-amz-security-token"), "{m}");
        assert!(m.starts_with("The request signature we calculated does not match"));
        assert!(m.ends_with("[the quoted request is removed]"), "{m}");
    }

    #[test]
    fn xml_signing_fields_credentials_tokens_and_pem_go() {
        let obs = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><AccessKeyId>HSTQ7EXAMPLE7AKID12</AccessKeyId><SignatureProvided>abc=</SignatureProvided><RequestId>00000191</RequestId></Error>";
        let m = upstream(obs);
        assert!(
            !m.contains("HSTQ7EXAMPLE7AKID12") && !m.contains("abc="),
            "{m}"
        );
        assert!(
            m.contains("SignatureDoesNotMatch") && m.contains("00000191"),
            "{m}"
        );

        let header = "bad header Authorization: SDK-HMAC-SHA256 Access=HSTQ7EXAMPLE7AKID12, SignedHeaders=host;x-sdk-date, Signature=0123abcd\nnext line";
        let m = upstream(header);
        assert!(!m.contains("HSTQ7") && !m.contains("0123abcd"), "{m}");
        assert!(m.contains("next line"), "{m}");

        for (text, secret) in [
            (
                "X-Security-Token: gQpjbi1ub3J0aC00SZx abc",
                "gQpjbi1ub3J0aC00SZx",
            ),
            ("url?access_token=3f9a0bd1e2&timestamp=1", "3f9a0bd1e2"),
            ("Credential=AKIDEXAMPLE/20261202/x, ok", "AKIDEXAMPLE"),
            ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            (
                "token dGhpcyBpcyBhIHZlcnkgbG9uZyBzZXNzaW9uIHRva2VuIHZhbHVl end",
                "dGhpcyBp",
            ),
            (
                "got -----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY----- back",
                "MIIEv",
            ),
            ("cut -----BEGIN PRIVATE KEY-----\nMIIEv", "MIIEv"),
        ] {
            let m = upstream(text);
            assert!(!m.contains(secret), "{text} -> {m}");
            assert!(m.contains(REDACTED), "{text} -> {m}");
        }
    }

    #[test]
    fn plain_messages_codes_and_request_ids_stay() {
        for m in [
            "domain not exist!",
            "CDN.0170: the domain does not exist",
            "Secrets Manager can't find the specified secret.",
            "request 7c1e4f6a9b2d4c3e8f0a1b2c3d4e5f60 failed",
            "Incorrect IAM authentication information: verify aksk signature fail",
        ] {
            assert_eq!(upstream(m), m);
        }
        // Found by `make fuzz` (tests/fuzz.rs store_error_bodies): a name search inside a
        // multi-byte character.
        assert_eq!(upstream("\u{80}é token: ü"), "é token: [redacted]");
        let long = "x ".repeat(1000);
        assert!(upstream(&long).chars().count() <= MAX_UPSTREAM + 1);
    }

    #[test]
    fn a_shape_shows_no_string() {
        let v = serde_json::json!({"private_key": "-----BEGIN PRIVATE KEY-----", "n": [1, "ab"]});
        let shown = format!("{:?}", Shape(&v));
        assert_eq!(shown, r#"{"private_key": <27 chars>, "n": [1, <2 chars>]}"#);
    }

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
