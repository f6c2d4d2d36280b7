//! AWS SNS `Publish` on the Query protocol: a form-encoded `POST /`, signed with SigV4 for service
//! `sns` in the topic's region, answered in XML.

use std::time::{Duration, UNIX_EPOCH};

use reqwest::Url;

use super::config::SnsTopic;
use super::{Failure, Outgoing};
use crate::aws::config::{AwsConfig, Service};
use crate::aws::sigv4::{self, Signable, Style};
use crate::huawei::sign::uri_encode;
use crate::transport::{xml_field, Reply};

/// SNS takes a subject of at most 100 printable ASCII characters, without line breaks.
pub const SUBJECT_CHARS: usize = 100;
/// SNS takes a message of up to 256 KiB; what is kept back leaves room for the form encoding of
/// the rest of the request.
pub const MESSAGE_BYTES: usize = 250 * 1024;

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The subject as SNS takes it.
pub fn subject(s: &str) -> String {
    let ascii: String = s
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    ascii.chars().take(SUBJECT_CHARS).collect()
}

/// The form body of a Publish call (parameters in name order, RFC 3986 encoding).
pub fn form(topic_arn: &str, subject: &str, message: &str) -> String {
    [
        ("Action", "Publish"),
        ("Message", message),
        ("Subject", subject),
        ("TopicArn", topic_arn),
        ("Version", "2010-03-31"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", uri_encode(v)))
    .collect::<Vec<_>>()
    .join("&")
}

/// The signed Publish request, at `unix_now`.
pub fn request(
    topic: &SnsTopic,
    aws: &AwsConfig,
    subject: &str,
    message: &str,
    unix_now: i64,
) -> Result<Outgoing, Failure> {
    let credentials = aws
        .credentials
        .as_ref()
        .ok_or_else(|| Failure::setup("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"))?;
    let endpoint = aws
        .endpoint_in(Service::Sns, &topic.region)
        .ok_or_else(|| Failure::setup("no SNS endpoint for the topic's region"))?;
    let url = format!("{}/", endpoint.endpoint.as_str());
    let body = form(&topic.arn, subject, message).into_bytes();
    let time = UNIX_EPOCH + Duration::from_secs(unix_now.max(0) as u64);
    let signing = sigv4::sign(
        credentials,
        &topic.region,
        Service::Sns.signing_name(),
        Style::Standard,
        &Signable {
            method: "POST",
            url: &url,
            headers: &[("content-type", CONTENT_TYPE)],
            body: &body,
        },
        time,
    )
    .map_err(|e| Failure::setup(format!("signing: {e}")))?;
    let mut headers = vec![("content-type".to_string(), CONTENT_TYPE.to_string())];
    headers.extend(signing);
    Ok(Outgoing {
        url: Url::parse(&url).map_err(|e| Failure::setup(format!("URL: {e}")))?,
        headers,
        body,
    })
}

/// The `MessageId` of a 2xx answer, or the `<Error>` of another.
pub fn judge(reply: &Reply) -> Result<Option<String>, Failure> {
    if (200..300).contains(&reply.status) {
        return Ok(xml_field(&reply.body, "MessageId"));
    }
    let code = xml_field(&reply.body, "Code").unwrap_or_default();
    let message = xml_field(&reply.body, "Message").unwrap_or_default();
    let throttled = code == "Throttling" || code == "Throttled";
    Err(Failure::answer(
        reply.status,
        &code,
        &message,
        xml_field(&reply.body, "RequestId"),
        throttled,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_printable_ascii_of_at_most_100() {
        assert_eq!(subject("a\nb – ok"), "a?b ? ok");
        assert_eq!(subject(&"x".repeat(150)).len(), 100);
    }

    #[test]
    fn form_is_encoded_in_name_order() {
        assert_eq!(
            form("arn:aws:sns:eu-west-1:123456789012:t", "a b", "x&y=z\n"),
            "Action=Publish&Message=x%26y%3Dz%0A&Subject=a%20b&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A123456789012%3At&Version=2010-03-31"
        );
    }

    #[test]
    fn errors_carry_the_services_code() {
        let reply = Reply {
            status: 404,
            headers: Default::default(),
            body: br#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#.to_vec(),
        };
        let f = judge(&reply).unwrap_err();
        assert_eq!(f.error.code, "NotFound");
        assert_eq!(f.error.http_status, Some(404));
        assert!(!f.retryable);
    }
}
