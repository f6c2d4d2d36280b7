//! Platform events → the deploy request. Pure: every envelope the function accepts is recognized
//! here, and HTTP events are handed back unread so they can be authenticated first.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::request::{Strictness, TOP_FIELDS};

/// Where the binary runs; decides how an ambiguous HTTP event is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Lambda,
    FunctionGraph,
    /// `invoke` from a shell: events are read as on Lambda.
    Cli,
}

/// What started the invocation (logged, and decides the budget of HTTP calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Direct,
    Destination,
    StepFunctions,
    ApiGatewayV1,
    ApiGatewayV2,
    FunctionUrl,
    EventBridgeSchedule,
    Scheduler,
    FunctionGraphTimer,
    FunctionGraphApig,
}

impl Trigger {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Direct => "direct",
            Trigger::Destination => "lambda_destination",
            Trigger::StepFunctions => "step_functions",
            Trigger::ApiGatewayV1 => "apigateway_v1",
            Trigger::ApiGatewayV2 => "apigateway_v2",
            Trigger::FunctionUrl => "function_url",
            Trigger::EventBridgeSchedule => "eventbridge_schedule",
            Trigger::Scheduler => "eventbridge_scheduler",
            Trigger::FunctionGraphTimer => "functiongraph_timer",
            Trigger::FunctionGraphApig => "functiongraph_apig",
        }
    }
}

/// The largest HTTP body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// An HTTP request taken out of its event, body decoded but not yet read.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The body as the sender sent it (base64 already undone); empty when it is too large.
    pub body: Vec<u8>,
    /// The body is over [`MAX_BODY`]: seen on its size alone, never decoded.
    pub too_large: bool,
}

/// Headers carry the bearer token and the body may carry a private key: Debug shows neither.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .field("too_large", &self.too_large)
            .finish()
    }
}

impl HttpRequest {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// An event, classified.
#[derive(Clone, PartialEq)]
pub enum Envelope {
    /// The request, from the event itself or unwrapped from another service's envelope.
    Request {
        trigger: Trigger,
        request: Value,
        strictness: Strictness,
        /// The webhook body style it was mapped from, if any.
        webhook: Option<&'static str>,
    },
    /// A schedule without input: the request is `DEPLOY_REQUEST`.
    Configured { trigger: Trigger },
    /// An HTTP call: authenticate it, then read its body with [`request_from_body`].
    Http { trigger: Trigger, http: HttpRequest },
}

/// The request may carry a private key: Debug shows its shape only.
impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Envelope::Request {
                trigger,
                request,
                strictness,
                webhook,
            } => f
                .debug_struct("Request")
                .field("trigger", trigger)
                .field("request", &crate::redact::Shape(request))
                .field("strictness", strictness)
                .field("webhook", webhook)
                .finish(),
            Envelope::Configured { trigger } => f
                .debug_struct("Configured")
                .field("trigger", trigger)
                .finish(),
            Envelope::Http { trigger, http } => f
                .debug_struct("Http")
                .field("trigger", trigger)
                .field("http", http)
                .finish(),
        }
    }
}

/// An event of no accepted shape, or one that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// The shapes accepted, for error messages.
pub const ACCEPTED: &str = "a deploy request; a Lambda destinations record; a Step Functions \
    lambda:invoke output ({\"Payload\": …}); an API Gateway REST (v1) or HTTP API (v2) proxy event; \
    a Lambda Function URL event; an EventBridge or EventBridge Scheduler Scheduled Event; a \
    FunctionGraph TIMER or APIG event; a Certimate or certd webhook body";

/// Classifies an event: each envelope is recognized by the fields only it has, in an order
/// where no earlier shape can take a later one's event, and converted by its own function.
pub fn classify(event: &Value, platform: Platform) -> Result<Envelope, EventError> {
    let Some(obj) = event.as_object() else {
        return Err(EventError(format!(
            "the event is not a JSON object; accepted: {ACCEPTED}"
        )));
    };
    let has = |k: &str| obj.contains_key(k);
    let str_of = |k: &str| obj.get(k).and_then(Value::as_str);

    // Lambda destinations: the issuing function's output is the request.
    if has("responsePayload") && has("requestContext") {
        let payload = unwrap_json_string(obj["responsePayload"].clone());
        return Ok(request(Trigger::Destination, payload, Strictness::Lenient));
    }
    // Step Functions lambda:invoke output passed on as the next task's input.
    if obj.get("Payload").is_some_and(Value::is_object)
        && (has("StatusCode") || has("ExecutedVersion") || has("SdkHttpMetadata"))
    {
        return Ok(request(
            Trigger::StepFunctions,
            obj["Payload"].clone(),
            Strictness::Lenient,
        ));
    }
    if str_of("detail-type") == Some("Scheduled Event") {
        return scheduled(str_of("source"));
    }
    if str_of("trigger_type").is_some_and(|t| t.eq_ignore_ascii_case("timer")) {
        return functiongraph_timer(obj.get("user_event"));
    }
    // API Gateway v2 and Function URLs (payload format 2.0).
    if has("requestContext")
        && (str_of("version") == Some("2.0") || has("routeKey") || has("rawPath"))
    {
        return http_api(event);
    }
    // API Gateway v1 (on FunctionGraph: its APIG trigger, which has the same shape).
    if has("httpMethod") {
        return match platform {
            Platform::FunctionGraph => functiongraph_apig(obj),
            _ => rest_api(event),
        };
    }
    direct(event)
}

/// An EventBridge rule (detail an object) or Scheduler (detail the string "{}") event without
/// input: the request is the configured one.
fn scheduled(source: Option<&str>) -> Result<Envelope, EventError> {
    match source {
        Some("aws.events") => Ok(Envelope::Configured {
            trigger: Trigger::EventBridgeSchedule,
        }),
        Some("aws.scheduler") => Ok(Envelope::Configured {
            trigger: Trigger::Scheduler,
        }),
        other => Err(EventError(format!(
            "a Scheduled Event from `{}` is not accepted (aws.events or aws.scheduler)",
            other.unwrap_or("?")
        ))),
    }
}

/// A FunctionGraph timer: `user_event` holds the request as a JSON string (empty: the
/// configured request).
fn functiongraph_timer(user_event: Option<&Value>) -> Result<Envelope, EventError> {
    let user_event = match user_event.unwrap_or(&Value::Null) {
        Value::String(s) if s.trim().is_empty() => Value::Null,
        Value::String(s) => serde_json::from_str(s)
            .map_err(|e| EventError(format!("user_event of the TIMER trigger is not JSON: {e}")))?,
        other => other.clone(),
    };
    Ok(match user_event {
        Value::Null => Envelope::Configured {
            trigger: Trigger::FunctionGraphTimer,
        },
        v => request(Trigger::FunctionGraphTimer, v, Strictness::Strict),
    })
}

/// An event of a known envelope in its aws_lambda_events type; what does not parse is named
/// with the parser's message, its quoted values left out.
fn parse_event<T: serde::de::DeserializeOwned>(event: &Value, what: &str) -> Result<T, EventError> {
    serde_json::from_value(event.clone()).map_err(|e| {
        EventError(format!(
            "{what} that does not parse: {}",
            crate::redact::serde_message(&e.to_string())
        ))
    })
}

/// An API Gateway HTTP API (v2) or Function URL event.
fn http_api(event: &Value) -> Result<Envelope, EventError> {
    let e: ApiGatewayV2httpRequest = parse_event(event, "an HTTP API / Function URL event")?;
    let is_url = e
        .request_context
        .domain_name
        .as_deref()
        .is_some_and(|d| d.contains(".lambda-url."));
    let (body, too_large) = decode_body(e.body.as_deref(), e.is_base64_encoded, false)?;
    let http = HttpRequest {
        method: e.request_context.http.method.to_string(),
        headers: header_map(&e.headers),
        body,
        too_large,
    };
    let trigger = if is_url {
        Trigger::FunctionUrl
    } else {
        Trigger::ApiGatewayV2
    };
    Ok(Envelope::Http { trigger, http })
}

/// A FunctionGraph APIG event: API Gateway v1's shape, its body decoded leniently (examples send
/// plain JSON with `isBase64Encoded: true`).
fn functiongraph_apig(obj: &serde_json::Map<String, Value>) -> Result<Envelope, EventError> {
    let str_of = |k: &str| obj.get(k).and_then(Value::as_str);
    let method = str_of("httpMethod").unwrap_or("GET").to_string();
    let headers = obj
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), scalar_string(v)))
                .collect()
        })
        .unwrap_or_default();
    let b64 = obj
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (body, too_large) = decode_body(str_of("body"), b64, true)?;
    Ok(Envelope::Http {
        trigger: Trigger::FunctionGraphApig,
        http: HttpRequest {
            method,
            headers,
            body,
            too_large,
        },
    })
}

/// An API Gateway REST (v1) proxy event.
fn rest_api(event: &Value) -> Result<Envelope, EventError> {
    let e: ApiGatewayProxyRequest = parse_event(event, "an API Gateway REST event")?;
    let mut headers = header_map(&e.multi_value_headers);
    headers.extend(header_map(&e.headers));
    let b64 = event
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (body, too_large) = decode_body(e.body.as_deref(), b64, false)?;
    Ok(Envelope::Http {
        trigger: Trigger::ApiGatewayV1,
        http: HttpRequest {
            method: e.http_method.to_string(),
            headers,
            body,
            too_large,
        },
    })
}

/// The request itself, or a certificate manager's webhook body sent directly; an object with
/// none of a request's fields is no event we know.
fn direct(event: &Value) -> Result<Envelope, EventError> {
    let (request, webhook) = map_webhook(event);
    if let Some(o) = request.as_object() {
        // A doctor event may carry only its action (the rest from DEPLOY_REQUEST).
        let known = |k: &str| TOP_FIELDS.contains(&k) || k == "action" || k == "all";
        if !o.is_empty() && !o.keys().any(|k| known(k)) {
            let fields: Vec<&str> = o.keys().map(String::as_str).collect();
            return Err(EventError(format!(
                "unrecognized event (fields: {}); accepted: {ACCEPTED}",
                fields.join(", ")
            )));
        }
    }
    Ok(Envelope::Request {
        trigger: Trigger::Direct,
        request,
        strictness: Strictness::Strict,
        webhook,
    })
}

fn request(trigger: Trigger, value: Value, strictness: Strictness) -> Envelope {
    let (request, webhook) = map_webhook(&value);
    Envelope::Request {
        trigger,
        request,
        strictness,
        webhook,
    }
}

/// Reads an authenticated HTTP body: JSON, a deploy request or a webhook body.
pub fn request_from_body(body: &[u8]) -> Result<(Value, Option<&'static str>), EventError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((json!({}), None));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| EventError(format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(EventError("the body must be a JSON object".into()));
    }
    Ok(map_webhook(&v))
}

/// Maps the webhook bodies certificate managers send as they come to a request; other values
/// pass unchanged. Their certificate-name fields are not CDN domains and are dropped; the domains
/// come from `DEPLOY_REQUEST` (or certd's `domains` when the user adds it).
pub fn map_webhook(v: &Value) -> (Value, Option<&'static str>) {
    let Some(o) = v.as_object() else {
        return (v.clone(), None);
    };
    let pick = |pairs: &[(&str, &str)]| -> Value {
        let mut out = Map::new();
        for (from, to) in pairs {
            if let Some(x) = o.get(*from) {
                out.insert(to.to_string(), x.clone());
            }
        }
        Value::Object(out)
    };
    if o.contains_key("cert") && o.contains_key("privkey") {
        // Certimate v0.3.10+: {"name": "<SANs;>", "cert", "privkey"}
        return (
            pick(&[("cert", "certificate"), ("privkey", "private_key")]),
            Some("certimate"),
        );
    }
    if o.contains_key("privateKey") && o.contains_key("certificate") {
        // Certimate v0.2: {"domain", "certificate", "privateKey", "variables"}
        return (
            pick(&[
                ("certificate", "certificate"),
                ("privateKey", "private_key"),
            ]),
            Some("certimate_v0.2"),
        );
    }
    if o.contains_key("crt") && o.contains_key("key") {
        // certd: {"crt", "key"} (+ "domains" as a comma string when the user adds it)
        return (
            pick(&[
                ("crt", "certificate"),
                ("key", "private_key"),
                ("domains", "domains"),
            ]),
            Some("certd"),
        );
    }
    (v.clone(), None)
}

fn unwrap_json_string(v: Value) -> Value {
    match &v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(v),
        _ => v,
    }
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(scalar_string).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn header_map(h: &reqwest::header::HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in h {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(k.as_str().to_ascii_lowercase())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v)
            })
            .or_insert(v);
    }
    out
}

/// Undoes base64 when the event says so, and says when the body is too large (then it is neither
/// decoded nor copied: its size decides). `lenient` (FunctionGraph APIG): a body flagged as base64
/// that does not decode to JSON is taken as it is, since examples send plain JSON flagged `true`.
fn decode_body(
    body: Option<&str>,
    base64: bool,
    lenient: bool,
) -> Result<(Vec<u8>, bool), EventError> {
    let raw = body.unwrap_or_default();
    let max = MAX_BODY;
    // Base64 of `max` bytes is at most 4/3 as long (and a few bytes of padding and whitespace).
    let too_large = if base64 {
        raw.len() > max.div_ceil(3) * 4 + 8
    } else {
        raw.len() > max
    };
    if too_large {
        return Ok((Vec::new(), true));
    }
    if !base64 {
        return Ok((raw.as_bytes().to_vec(), false));
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw.trim());
    // Only whether it is JSON matters here: nothing is built from it.
    let is_json = |b: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok();
    match decoded {
        Ok(bytes) if bytes.len() > max => Ok((Vec::new(), true)),
        Ok(bytes) if !lenient || is_json(&bytes) => Ok((bytes, false)),
        _ if lenient => Ok((raw.as_bytes().to_vec(), false)),
        Err(e) => Err(EventError(format!(
            "the body is flagged base64 but does not decode: {e}"
        ))),
        Ok(_) => unreachable!("non-lenient decoding returned above"),
    }
}
