//! A chat-webhook receiver on loopback that checks each format's body and signature as the tools'
//! documentation defines them, and answers as each tool does:
//! - Slack incoming webhook: `{"text"}`; `ok` (text), or 400 `no_text`.
//! - Feishu custom bot: `{"msg_type": "text", "content": {"text"}}`, with a secret also
//!   `timestamp` (seconds, within an hour) and `sign` = base64(HMAC-SHA256(key =
//!   "timestamp\nsecret", message = "")); `{"code": 0}` or `{"code": 19021, ...}` (HTTP 200).
//! - DingTalk custom robot: `?access_token=...`, with a secret also `&timestamp=<ms>&sign=` with
//!   sign = urlencode(base64(HMAC-SHA256(key = secret, message = "timestamp\nsecret")));
//!   `{"msgtype": "markdown", "markdown": {"title", "text"}}`; `{"errcode": 0}` or 310000.
//! - WeCom group robot: `?key=...`, `{"msgtype": "markdown", "markdown": {"content"}}` of at
//!   most 4096 bytes; `{"errcode": 0}` or 40058.
//! - json: any JSON object with `summary` and `domains`.
//!
//! The first path segment names the format (`/dingtalk/robot/send?access_token=...`).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;

/// One message the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub format: String,
    /// The query, decoded.
    pub query: Vec<(String, String)>,
    pub body: Value,
    /// Whether it passed the format's checks (and signature).
    pub accepted: bool,
    pub why: String,
}

impl Got {
    /// The message's text, whatever the format.
    pub fn text(&self) -> String {
        let b = &self.body;
        [
            &b["text"],
            &b["content"]["text"],
            &b["markdown"]["text"],
            &b["markdown"]["content"],
            &b["digest"]["text"],
        ]
        .iter()
        .find_map(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
    }
}

struct Shared {
    secret: Option<String>,
    fail_status: Option<u16>,
    got: Mutex<Vec<Got>>,
}

/// A running receiver; stops when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// A receiver that checks signatures with `secret`, and answers `fail_status` to everything
    /// when given.
    pub async fn start(secret: Option<&str>, fail_status: Option<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            secret: secret.map(str::to_string),
            fail_status,
            got: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let task = super::serve_http(listener, move |req| serve(s.clone(), req));
        Self { url, shared, task }
    }

    /// What it got so far.
    pub fn got(&self) -> Vec<Got> {
        self.shared.got.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64_hmac(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A query value as a form decodes it (`+` is a space), with the crate's percent-decoding.
fn percent_decode(s: &str) -> String {
    cdn_cert_deploy::huawei::sign::uri_decode(&s.replace('+', " "))
}

fn check(
    secret: Option<&str>,
    format: &str,
    query: &[(String, String)],
    body: &Value,
) -> Result<(), String> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let within_hour = |t: i64| (now() - t).abs() <= 3600;
    match format {
        "slack" => match body["text"].as_str() {
            Some(t) if !t.is_empty() => Ok(()),
            _ => Err("no_text".into()),
        },
        "feishu" => {
            if body["msg_type"] != "text" || !body["content"]["text"].is_string() {
                return Err("params error: msg_type text with content.text".into());
            }
            if let Some(secret) = secret {
                let ts = body["timestamp"].as_str().ok_or("no timestamp")?;
                let t: i64 = ts.parse().map_err(|_| "bad timestamp")?;
                let expected = b64_hmac(format!("{ts}\n{secret}").as_bytes(), b"");
                if !within_hour(t) || body["sign"].as_str() != Some(expected.as_str()) {
                    return Err("sign match fail or timestamp is not within one hour".into());
                }
            }
            Ok(())
        }
        "dingtalk" => {
            q("access_token").ok_or("no access_token")?;
            if body["msgtype"] != "markdown"
                || !body["markdown"]["title"].is_string()
                || !body["markdown"]["text"].is_string()
            {
                return Err("msgtype markdown with title and text".into());
            }
            if body["markdown"]["text"].as_str().unwrap().len() > 20_000 {
                return Err("message too long".into());
            }
            if let Some(secret) = secret {
                let ts = q("timestamp").ok_or("no timestamp")?;
                let t: i64 = ts.parse().map_err(|_| "bad timestamp")?;
                let expected = b64_hmac(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes());
                if !within_hour(t / 1000) || q("sign").as_deref() != Some(expected.as_str()) {
                    return Err("sign not match".into());
                }
            }
            Ok(())
        }
        "wecom" => {
            q("key").ok_or("no key")?;
            let content = body["markdown"]["content"].as_str();
            match (body["msgtype"].as_str(), content) {
                (Some("markdown"), Some(c)) if c.len() <= 4096 => Ok(()),
                (Some("markdown"), Some(_)) => {
                    Err("markdown.content exceed max length 4096".into())
                }
                _ => Err("invalid msgtype or content".into()),
            }
        }
        "json" => match (body.get("summary"), body.get("domains")) {
            (Some(_), Some(Value::Array(_))) => Ok(()),
            _ => Err("not a deploy result".into()),
        },
        other => Err(format!("unknown format {other}")),
    }
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let format = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let verdict = check(shared.secret.as_deref(), &format, &query, &parsed);
    shared.got.lock().unwrap().push(Got {
        format: format.clone(),
        query,
        body: parsed,
        accepted: verdict.is_ok(),
        why: verdict.clone().err().unwrap_or_default(),
    });
    let respond = |status: u16, body: String| {
        Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    if let Some(status) = shared.fail_status {
        return respond(status, "internal error".into());
    }
    match (format.as_str(), verdict) {
        ("slack", Ok(())) => respond(200, "ok".into()),
        ("slack", Err(e)) => respond(400, e),
        ("feishu", Ok(())) => respond(
            200,
            json!({"code": 0, "msg": "success", "data": {}}).to_string(),
        ),
        ("feishu", Err(e)) => respond(200, json!({"code": 19021, "msg": e}).to_string()),
        ("dingtalk" | "wecom", Ok(())) => {
            respond(200, json!({"errcode": 0, "errmsg": "ok"}).to_string())
        }
        ("dingtalk", Err(e)) => respond(200, json!({"errcode": 310000, "errmsg": e}).to_string()),
        ("wecom", Err(e)) => respond(200, json!({"errcode": 40058, "errmsg": e}).to_string()),
        (_, Ok(())) => respond(200, "{}".into()),
        (_, Err(e)) => respond(400, e),
    }
}
