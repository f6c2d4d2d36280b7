//! SMN (Simple Message Notification) PublishMessage, served next to the CDN API and signed the
//! same way (checked by the gateway rules of `server.rs`):
//!
//! `POST /v2/{project_id}/notifications/topics/{topic_urn}/publish` with
//! `{"subject"?, "message"}`; the answer follows huaweicloud-sdk-go-v3 `services/smn/v2/model`
//! (`PublishMessageResponse`: `request_id`, `message_id`). A topic exists when its URN names the
//! simulator's project. Also a chat-webhook receiver for the demo (`POST /_sim/webhook`), which
//! keeps what it got for `GET /_sim/notifications`.

use serde_json::{json, Value};

/// SMN's limits: the subject (bytes), the message (bytes).
const SUBJECT_BYTES: usize = 512;
const MESSAGE_BYTES: usize = 256 * 1024;

/// What the simulator was told: SMN messages and webhook bodies, in order.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub smn: Vec<Value>,
    pub webhooks: Vec<Value>,
}

/// The PublishMessage call a path names: `(project_id, topic_urn)`.
pub(super) fn route<'a>(method: &str, seg: &[&'a str]) -> Option<(&'a str, &'a str)> {
    match (method, seg) {
        ("POST", ["v2", project, "notifications", "topics", urn, "publish"]) => {
            Some((project, urn))
        }
        _ => None,
    }
}

/// The message a valid call publishes, or SMN's error.
pub(super) fn publish(
    ours: &str,
    project_id: &str,
    urn: &str,
    body: &[u8],
) -> Result<Value, (u16, &'static str, String)> {
    let parts: Vec<&str> = urn.split(':').collect();
    if project_id != ours || parts.len() != 5 || parts[..2] != ["urn", "smn"] || parts[3] != ours {
        return Err((404, "SMN.00010008", format!("Topic {urn} not found")));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| (400, "SMN.00010001", "Invalid request body".to_string()))?;
    let message = v.get("message").and_then(Value::as_str).unwrap_or_default();
    let subject = v.get("subject").and_then(Value::as_str).unwrap_or_default();
    if message.is_empty() || message.len() > MESSAGE_BYTES {
        return Err((
            400,
            "SMN.00010013",
            "message is empty or longer than 256 KB".into(),
        ));
    }
    if subject.len() > SUBJECT_BYTES {
        return Err((
            400,
            "SMN.00010012",
            "subject is longer than 512 bytes".into(),
        ));
    }
    Ok(json!({"topic_urn": urn, "subject": subject, "message": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_exist_in_our_project_only() {
        let body = br#"{"subject":"s","message":"m"}"#;
        assert!(publish("p1", "p1", "urn:smn:cn-north-4:p1:certs", body).is_ok());
        assert_eq!(
            publish("p1", "p1", "urn:smn:cn-north-4:p2:certs", body)
                .unwrap_err()
                .0,
            404
        );
        assert_eq!(
            publish(
                "p1",
                "p1",
                "urn:smn:cn-north-4:p1:certs",
                br#"{"message":""}"#
            )
            .unwrap_err()
            .1,
            "SMN.00010013"
        );
    }
}
