//! Huawei SMN `PublishMessage`: `POST /v2/{project_id}/notifications/topics/{topic_urn}/publish`
//! with `{"subject", "message"}`, signed like the CDN calls (SDK-HMAC-SHA256).

use reqwest::Url;
use serde_json::{json, Value};

use super::config::SmnTopic;
use super::{Failure, Outgoing};
use crate::huawei::credential::{Credentials, ProjectCall};
use crate::huawei::error::parse_error_body;
use crate::huawei::sign::uri_encode;
use crate::transport::Reply;

/// SMN's subject limit (UTF-8 bytes).
pub const SUBJECT_BYTES: usize = 512;
/// SMN's message limit is 256 KB; the rest is room for the JSON around it.
pub const MESSAGE_BYTES: usize = 250 * 1000;

/// The signed PublishMessage request, at `unix_now`.
pub fn request(
    topic: &SmnTopic,
    credentials: Option<&Credentials>,
    subject: &str,
    message: &str,
    unix_now: i64,
) -> Result<Outgoing, Failure> {
    let credentials = credentials
        .ok_or_else(|| Failure::setup("HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not set"))?;
    let project = &topic.project_id;
    let signed_path = format!("/v2/{project}/notifications/topics/{}/publish", topic.urn);
    let wire_path = format!(
        "/v2/{}/notifications/topics/{}/publish",
        uri_encode(project),
        uri_encode(&topic.urn)
    );
    let body = json!({ "subject": subject, "message": message })
        .to_string()
        .into_bytes();
    let headers = credentials.sign_project_call(
        &ProjectCall {
            method: "POST",
            signed_path: &signed_path,
            body: &body,
            host: topic.endpoint.host(),
            project_id: project,
            content_type: "application/json;charset=UTF-8",
        },
        unix_now,
    );
    let url = Url::parse(&format!("{}{wire_path}", topic.endpoint.as_str()))
        .map_err(|e| Failure::setup(format!("URL: {e}")))?;
    Ok(Outgoing { url, headers, body })
}

/// The `message_id` of a 2xx answer, or the `{"error_code", "error_msg"}` of another.
pub fn judge(reply: &Reply) -> Result<Option<String>, Failure> {
    if (200..300).contains(&reply.status) {
        let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        return Ok(v
            .get("message_id")
            .and_then(Value::as_str)
            .map(str::to_string));
    }
    let (code, message) = parse_error_body(&reply.body).unwrap_or_default();
    Err(Failure::answer(
        reply.status,
        &code,
        &message,
        reply.header("x-request-id"),
        false,
    ))
}
