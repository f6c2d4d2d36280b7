//! A chat tool's bot webhook, in the body its documentation defines: Slack incoming webhooks
//! (`{"text"}`), Feishu/Lark custom bots (`msg_type` text, `timestamp` + `sign` in the body),
//! DingTalk custom robots (`msgtype` markdown, `timestamp` + `sign` in the query), WeCom group
//! robots (`msgtype` markdown), or the whole answer (a result, a doctor's report) as JSON.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::config::{Webhook, WebhookFormat};
use super::digest::{Digest, Measure, Style};
use super::{Failure, Outgoing};
use crate::transport::Reply;

/// Slack truncates `text` beyond 40 000 characters.
pub const SLACK_TEXT: usize = 40_000;
/// Feishu refuses a request body over 20 KB; the rest is room for the JSON around the text.
pub const FEISHU_TEXT: usize = 19_000;
/// DingTalk takes up to 20 000 bytes of message.
pub const DINGTALK_TEXT: usize = 19_000;
/// WeCom markdown `content` is at most 4096 bytes (UTF-8).
pub const WECOM_CONTENT: usize = 4096;

/// Feishu's bot signature: base64 of HMAC-SHA256 keyed with `"{timestamp}\n{secret}"` over
/// nothing (seconds).
pub fn feishu_sign(timestamp_secs: i64, secret: &str) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's robot signature: base64 of HMAC-SHA256 keyed with the secret over
/// `"{timestamp}\n{secret}"` (milliseconds); sent URL-encoded in the query.
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The request for `hook`, at `unix_now`.
pub fn request(
    hook: &Webhook,
    digest: &Digest,
    whole: &super::Whole<'_>,
    unix_now: i64,
) -> Outgoing {
    let mut url = hook.url.expose().clone();
    let secret = hook.secret.as_ref().map(|s| s.expose());
    let body = match hook.format {
        WebhookFormat::Slack => json!({
            "text": digest.render(Style::Slack, true, SLACK_TEXT, Measure::Bytes)
        }),
        WebhookFormat::Feishu => {
            let mut body = json!({
                "msg_type": "text",
                "content": {"text": digest.render(Style::Plain, true, FEISHU_TEXT, Measure::JsonString)}
            });
            if let Some(secret) = secret {
                body["timestamp"] = json!(unix_now.to_string());
                body["sign"] = json!(feishu_sign(unix_now, secret));
            }
            body
        }
        WebhookFormat::DingTalk => {
            if let Some(secret) = secret {
                let ms = unix_now.saturating_mul(1000);
                url.query_pairs_mut()
                    .append_pair("timestamp", &ms.to_string())
                    .append_pair("sign", &dingtalk_sign(ms, secret));
            }
            json!({
                "msgtype": "markdown",
                "markdown": {
                    "title": digest.subject,
                    "text": digest.render(Style::Markdown, true, DINGTALK_TEXT, Measure::JsonString)
                }
            })
        }
        WebhookFormat::WeCom => json!({
            "msgtype": "markdown",
            "markdown": {"content": digest.render(Style::Markdown, true, WECOM_CONTENT, Measure::Bytes)}
        }),
        WebhookFormat::Json => {
            let mut body = whole();
            body["digest"] = json!({
                "subject": digest.subject,
                "text": digest.render(Style::Plain, false, SLACK_TEXT, Measure::Bytes),
            });
            body
        }
    };
    Outgoing {
        url,
        headers: vec![(
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )],
        body: body.to_string().into_bytes(),
    }
}

/// Whether the tool took the message: a 2xx, and for Feishu, DingTalk and WeCom a zero code in
/// the body (they answer 200 with an error code when they refuse one).
pub fn judge(format: WebhookFormat, reply: &Reply) -> Result<Option<String>, Failure> {
    let text = String::from_utf8_lossy(&reply.body);
    if !(200..300).contains(&reply.status) {
        let message: String = text.chars().take(200).collect();
        return Err(Failure::answer(reply.status, "", &message, None, false));
    }
    let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let (code_key, message_key) = match format {
        WebhookFormat::Feishu if v.get("StatusCode").is_some() => ("StatusCode", "StatusMessage"),
        WebhookFormat::Feishu => ("code", "msg"),
        WebhookFormat::DingTalk | WebhookFormat::WeCom => ("errcode", "errmsg"),
        WebhookFormat::Slack | WebhookFormat::Json => return Ok(None),
    };
    match v.get(code_key).and_then(Value::as_i64) {
        Some(0) => Ok(None),
        code => {
            let code = code.map_or("unreadable_answer".to_string(), |c| c.to_string());
            let message = v
                .get(message_key)
                .and_then(Value::as_str)
                .unwrap_or_default();
            Err(Failure::answer(reply.status, &code, message, None, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_as_the_bots_documentation_computes_them() {
        // Known answers computed with Python's hmac, as the Feishu and DingTalk docs do it.
        assert_eq!(
            feishu_sign(1_599_360_473, "demo"),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
        assert_eq!(
            dingtalk_sign(1_599_360_473_000, "SECdemo"),
            "tGWkA5eQOQNCNPDgphtxIoNLO+/gD8Lcb705KQoRzeY="
        );
    }

    #[test]
    fn a_refusal_in_a_200_is_a_failure() {
        let reply = |body: &str| Reply {
            status: 200,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
        };
        let f = judge(
            WebhookFormat::DingTalk,
            &reply(r#"{"errcode":310000,"errmsg":"sign not match"}"#),
        )
        .unwrap_err();
        assert_eq!(f.error.code, "310000");
        assert!(judge(
            WebhookFormat::WeCom,
            &reply(r#"{"errcode":0,"errmsg":"ok"}"#)
        )
        .is_ok());
        assert!(judge(
            WebhookFormat::Feishu,
            &reply(r#"{"code":19021,"msg":"sign match fail"}"#)
        )
        .is_err());
        assert!(judge(WebhookFormat::Feishu, &reply(r#"{"StatusCode":0}"#)).is_ok());
        assert!(judge(WebhookFormat::Slack, &reply("ok")).is_ok());
    }
}
