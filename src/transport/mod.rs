//! One HTTP exchange with a store or a notification channel (AWS or Huawei, or a webhook):
//! headers already signed, a timeout of its own, the answer read whole under a cap that keeps
//! memory bounded; and the error a failed exchange is ([`error`]), in a word and the service's own
//! terms.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

pub mod error;

pub use error::{FetchError, Reason};

/// Connect timeout of a store call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read: a chain and key are a few KiB.
const MAX_BODY: usize = 1 << 20;

/// A store's answer.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The body may be a secret: Debug shows its length only.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The body of a 2xx answer; otherwise the error in an S3-style XML body (S3 and OBS both
    /// answer `<Error><Code>…</Code><Message>…</Message></Error>`), with the request id header.
    pub fn object_body(self, request_id_header: &str) -> Result<Vec<u8>, FetchError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let code = xml_field(&self.body, "Code").unwrap_or_default();
        let message = xml_field(&self.body, "Message").unwrap_or_default();
        Err(FetchError::answer(
            self.status,
            &code,
            &message,
            self.header(request_id_header),
        ))
    }
}

/// The HTTP client for store calls (rustls, no redirects: a redirect must not carry a signature
/// elsewhere).
pub fn client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("cdn-cert-deploy/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| FetchError::new(Reason::Unavailable, format!("HTTP client: {e}")))
}

/// An error and its sources, joined: reqwest's own message ("error sending request") hides why.
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// A host that does not exist or whose certificate does not fit will not heal by retrying: the
/// endpoint (or, for OBS, a dotted bucket name in the host) is the thing to fix.
fn transport_reason(cause: &str) -> Reason {
    let lower = cause.to_ascii_lowercase();
    let bad_certificate = lower.contains("invalid peer certificate")
        || lower.contains("certificate verify failed")
        || lower.contains("notvalidforname");
    let no_such_host = lower.contains("dns error")
        && (lower.contains("not known") || lower.contains("no address associated"));
    if bad_certificate || no_such_host {
        Reason::NotConfigured
    } else {
        Reason::Unavailable
    }
}

/// Why an answer's body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the cap: the length said (or read so far).
    TooLarge(u64),
    Transport(reqwest::Error),
}

/// Reads an answer's body, refusing one larger than `max` bytes before reading it whole: on its
/// `Content-Length` at once, else as soon as the stream passes `max`. An upstream (or a store
/// object under an allowed prefix) can then never run the function out of memory.
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if let Some(len) = declared.filter(|l| *l > max as u64) {
        return Err(BodyError::TooLarge(len));
    }
    // The declared length, when there is one, is allocated once: growing by doubling would hold
    // up to twice a large page (a thousand domains' certificates) at its peak.
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends one request; any answer (2xx or not) is a `Reply`, only a transport failure is an error.
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: Url,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Reply, FetchError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| FetchError::new(Reason::Rejected, format!("header {k}: {e}")))?;
        let mut value = HeaderValue::from_str(v)
            .map_err(|e| FetchError::new(Reason::Rejected, format!("header {k}: {e}")))?;
        value.set_sensitive(matches!(
            name.as_str(),
            "authorization" | "x-amz-security-token" | "x-security-token" | "x-obs-security-token"
        ));
        map.insert(name, value);
    }
    let transport = |e: reqwest::Error| {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "transport error"
        };
        let cause = causes(&e.without_url());
        FetchError::new(transport_reason(&cause), format!("{what}: {cause}"))
    };
    let response = http
        .request(method, url)
        .headers(map)
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match read_capped(response, MAX_BODY).await {
        Ok(body) => body,
        Err(BodyError::Transport(e)) => return Err(transport(e)),
        Err(BodyError::TooLarge(n)) => {
            return Err(FetchError::new(
                Reason::InvalidContent,
                format!("answer of {n} bytes or more is larger than 1 MiB: not read"),
            ))
        }
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A secret's text as a store answers it: its string, or its binary (base64) as UTF-8 text.
/// `names` are the store's own field names, for the error.
pub fn secret_text(
    string: Option<String>,
    binary: Option<String>,
    names: (&str, &str),
) -> Result<String, FetchError> {
    use base64::Engine;
    match (string, binary) {
        (Some(s), _) => Ok(s),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                FetchError::new(
                    Reason::InvalidContent,
                    format!("{} is not UTF-8 text", names.1),
                )
            }),
        (None, None) => Err(FetchError::new(
            Reason::InvalidContent,
            format!("the secret holds neither {} nor {}", names.0, names.1),
        )),
    }
}

/// The text between `<tag>` and `</tag>` of an XML error body (S3, OBS).
pub fn xml_field(body: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(text[start..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml_error_fields() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a/b</Key></Error>"#;
        assert_eq!(xml_field(body, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(
            xml_field(body, "Message").as_deref(),
            Some("The specified key does not exist.")
        );
        assert_eq!(xml_field(body, "Nope"), None);
    }
}
