//! Property-based fuzzing of every parser that takes outside bytes (issue 15): events, the deploy
//! request, PEM chains and keys, certificate-store payloads and error bodies, CDN answers, the
//! HTTP authentication headers and the runtime APIs' headers.
//!
//! The invariant of every target: no panic, no hang (inputs are bounded), and where the API
//! gives a message, an error that names the field. `PROPTEST_CASES` sets the number of cases
//! (256 by default, so `cargo test` stays fast); `make fuzz` runs 10 000 per target in release.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Map, Value};

use cdn_cert_deploy::cert;
use cdn_cert_deploy::deploy::settings::{self, BulkEntry, Overrides};
use cdn_cert_deploy::deploy::{calls, decide, Target};
use cdn_cert_deploy::event::{self, Envelope, HttpRequest, Platform};
use cdn_cert_deploy::http::{self, HttpAuth};
use cdn_cert_deploy::huawei::error::{parse_error_body, parse_retry_after, CdnError};
use cdn_cert_deploy::huawei::model::{
    BatchAnswer, DomainDetailBody, DomainList, FullConfigBody, HttpsInfoList,
};
use cdn_cert_deploy::notify::config::WebhookFormat;
use cdn_cert_deploy::notify::{smn, sns, webhook};
use cdn_cert_deploy::request::{self, Strictness, TOP_FIELDS};
use cdn_cert_deploy::runtime::{functiongraph, lambda};
use cdn_cert_deploy::scm;
use cdn_cert_deploy::secret::Secret;
use cdn_cert_deploy::source::extract::{self, ExtractError};
use cdn_cert_deploy::source::spec::Locations;
use cdn_cert_deploy::stores::{aws, huawei};
use cdn_cert_deploy::transport::{self as wire, Reply};

// ------------------------------------------------------------------------------------------
// Configuration and the real samples
// ------------------------------------------------------------------------------------------

/// 256 cases per target unless `PROPTEST_CASES` says otherwise; failures are kept in
/// `tests/fuzz.proptest-regressions` and replayed first.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default(); // reads PROPTEST_CASES
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    c.failure_persistence = Some(Box::new(FileFailurePersistence::WithSource(
        "proptest-regressions",
    )));
    c.max_shrink_iters = 4096;
    c
}

/// Every sample event, as the platforms send them.
const EVENTS: &[&str] = &[
    include_str!("../events/apigw-v1.json"),
    include_str!("../events/apigw-v2.json"),
    include_str!("../events/certd.json"),
    include_str!("../events/certimate-v02.json"),
    include_str!("../events/certimate.json"),
    include_str!("../events/deploy.json"),
    include_str!("../events/destination.json"),
    include_str!("../events/eventbridge-schedule.json"),
    include_str!("../events/function-url.json"),
    include_str!("../events/functiongraph-apig.json"),
    include_str!("../events/functiongraph-timer.json"),
    include_str!("../events/scheduler.json"),
    include_str!("../events/step-functions.json"),
];

const CERTS: &[&str] = &[
    include_str!("fixtures/demo-leaf.pem"),
    include_str!("fixtures/demo-ca.pem"),
    include_str!("fixtures/ec-sec1.pem"),
    include_str!("fixtures/rsa-pkcs1.pem"),
    include_str!("fixtures/sm2-sign.pem"),
    include_str!("fixtures/sm2-enc.pem"),
];

const KEYS: &[&str] = &[
    include_str!("fixtures/demo-leaf.key"),
    include_str!("fixtures/ec-sec1.key"),
    include_str!("fixtures/rsa-pkcs1.key"),
];

/// 2027-01-01: the fixtures are valid then.
const NOW: i64 = 1_798_761_600;

/// Field names the parsers look for, so random objects reach their branches.
const KEY_WORDS: &[&str] = &[
    "domains",
    "match",
    "certificate",
    "private_key",
    "certificate_name",
    "scm_certificate_id",
    "certificate_source",
    "enterprise_project_id",
    "huawei_credentials",
    "parameter",
    "options",
    "force",
    "dry_run",
    "wait",
    "time_budget_secs",
    "http2",
    "tls_version",
    "ocsp_stapling",
    "fail_on_error",
    "warn_days",
    "no_sm_certificates",
    "verify_edge",
    "type",
    "secret_id",
    "json_keys",
    "bucket",
    "keys",
    "prefix",
    "responsePayload",
    "requestContext",
    "Payload",
    "StatusCode",
    "detail-type",
    "source",
    "trigger_type",
    "user_event",
    "version",
    "routeKey",
    "rawPath",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
    "http",
    "method",
    "domainName",
    "cert",
    "privkey",
    "privateKey",
    "crt",
    "key",
    "error",
    "error_code",
    "error_msg",
    "code",
    "message",
];

/// Number literals a `serde_json::Value` cannot hold, spliced into the text in place of a
/// placeholder string.
const HUGE_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890123456789",
    "0.000000000000000000000000000001",
    "-0",
    "1E+2",
    "4.9e-324",
];

// ------------------------------------------------------------------------------------------
// Strategies
// ------------------------------------------------------------------------------------------

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEY_WORDS).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,24}",
        1 => "[a-z0-9.*-]{1,20}(\\.[a-z]{2,5})?",
        1 => (0usize..20_000, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
        1 => proptest::sample::select(HUGE_NUMBERS).prop_map(|n| format!("@NUM:{n}@")),
        1 => proptest::sample::select(KEY_WORDS).prop_map(str::to_string),
    ]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        arb_string().prop_map(Value::String),
    ]
}

/// Any JSON value, nested up to 10 levels, with the parsers' own field names as keys.
fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(10, 96, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(arb_key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// JSON text of `v`, with the number placeholders replaced by their literals.
fn to_text(v: &Value) -> String {
    let mut s = v.to_string();
    for n in HUGE_NUMBERS {
        s = s.replace(&format!("\"@NUM:{n}@\""), n);
    }
    s
}

/// JSON nested `depth` levels deep, as text (past serde_json's limit of 128 when deep).
fn deep_text(depth: usize, object: bool) -> String {
    if object {
        format!("{}1{}", "{\"domains\":".repeat(depth), "}".repeat(depth))
    } else {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }
}

/// One edit at a position of a byte text.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Repeat(usize, usize),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Edit::Insert(p, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b"\"".to_vec()),
                Just(b"{".to_vec()),
                Just(b"}".to_vec()),
                Just(b"[".to_vec()),
                Just(b",".to_vec()),
                Just(b"\\u0000".to_vec()),
                Just(b"\\ud800".to_vec()),
                Just("é€😀".as_bytes().to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"-----BEGIN CERTIFICATE-----\n".to_vec()),
                Just(b"-----END CERTIFICATE-----\n".to_vec()),
            ]
        )
            .prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Edit::Delete(p, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Edit::Repeat(p, n)),
    ]
}

/// Applies edits; the text stays under 256 KiB.
fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = base.to_vec();
    for e in edits {
        let at = |p: usize, out: &Vec<u8>| p % (out.len() + 1);
        match e {
            Edit::Flip(p, b) if !out.is_empty() => {
                let i = p % out.len();
                out[i] ^= b | 1;
            }
            Edit::Flip(..) => {}
            Edit::Insert(p, bytes) => {
                let i = at(*p, &out);
                out.splice(i..i, bytes.iter().copied());
            }
            Edit::Delete(p, n) => {
                let i = at(*p, &out);
                let j = (i + n).min(out.len());
                out.drain(i..j);
            }
            Edit::Truncate(p) => {
                let i = at(*p, &out);
                out.truncate(i);
            }
            Edit::Repeat(p, n) => {
                let i = at(*p, &out);
                let j = (i + n).min(out.len());
                let piece = out[i..j].to_vec();
                out.splice(j..j, piece);
            }
        }
        out.truncate(256 * 1024);
    }
    out
}

/// A structural edit of a JSON value: at the path chosen by `path`, replace or delete.
#[derive(Debug, Clone)]
struct ValueEdit {
    path: Vec<usize>,
    replacement: Option<Value>,
}

fn arb_value_edit() -> impl Strategy<Value = ValueEdit> {
    (
        vec(any::<usize>(), 0..6),
        proptest::option::weighted(0.8, arb_json()),
    )
        .prop_map(|(path, replacement)| ValueEdit { path, replacement })
}

fn apply_value_edit(v: &mut Value, edit: &ValueEdit) {
    edit_at(v, &edit.path, edit.replacement.as_ref());
}

/// Goes down `path` (at most 6 steps) while there are children; replaces there, or deletes the
/// child at the last step.
fn edit_at(v: &mut Value, path: &[usize], replacement: Option<&Value>) {
    let Some((choice, rest)) = path.split_first() else {
        if let Some(r) = replacement {
            *v = r.clone();
        }
        return;
    };
    let delete = rest.is_empty() && replacement.is_none();
    match v {
        Value::Object(o) if !o.is_empty() => {
            let key = o.keys().nth(choice % o.len()).cloned().unwrap_or_default();
            if delete {
                o.remove(&key);
            } else if let Some(child) = o.get_mut(&key) {
                edit_at(child, rest, replacement);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = choice % a.len();
            if delete {
                a.remove(i);
            } else {
                edit_at(&mut a[i], rest, replacement);
            }
        }
        _ => edit_at(v, &[], replacement),
    }
}

// ------------------------------------------------------------------------------------------
// Shared checks
// ------------------------------------------------------------------------------------------

fn is_request_field(field: &str, request: &Value) -> bool {
    let top = field
        .split(['.', '['])
        .next()
        .unwrap_or_default()
        .to_string();
    field == "request"
        || TOP_FIELDS.contains(&top.as_str())
        || request.as_object().is_some_and(|o| o.contains_key(field))
}

/// Parses a request both ways (after merging with a default) and checks the error names a field.
fn check_request(request: &Value) {
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        match request::parse(request.clone(), strictness) {
            Ok((req, unknown)) => {
                assert!(strictness == Strictness::Lenient || unknown.is_empty());
                let _ = cdn_cert_deploy::plan::budget(
                    Duration::from_secs(900),
                    req.options.time_budget_secs,
                    None,
                );
            }
            Err(e) => {
                assert!(
                    is_request_field(&e.field, request),
                    "error names no field: {e:?} for {request}"
                );
                assert!(!e.message.is_empty());
            }
        }
    }
}

/// Everything the application does with an event before any I/O.
fn check_event(v: &Value) {
    let defaults = json!({"domains": ["www.example.com"], "options": {"dry_run": true}});
    for platform in [Platform::Lambda, Platform::FunctionGraph, Platform::Cli] {
        match event::classify(v, platform) {
            Ok(Envelope::Request { request, .. }) => {
                check_request(&request);
                check_request(&request::merge_defaults(&defaults, &request));
            }
            Ok(Envelope::Configured { .. }) => {}
            Ok(Envelope::Http { http: req, trigger }) => {
                let _ = http::budget_cap(trigger);
                let auth = HttpAuth {
                    secret: Some(Secret::new("s3cret")),
                    token: Some(Secret::new("t0ken")),
                    none: false,
                    ..Default::default()
                };
                if let Err(r) = http::admit(&req, &auth, NOW) {
                    assert!(matches!(r.status, 401 | 405 | 413), "{r:?}");
                }
                if let Ok((request, _)) = event::request_from_body(&req.body) {
                    if let Err(r) = http::narrow(&request, http::Allow::Certificate) {
                        assert_eq!(r.status, 403, "{r:?}");
                    }
                    check_request(&request);
                }
            }
            Err(e) => assert!(!e.0.is_empty()),
        }
    }
}

/// The event path from the bytes a runtime receives.
fn check_event_bytes(bytes: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        check_event(&v);
    }
    let _ = event::request_from_body(bytes);
}

fn reply(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Reply {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.append(k, v);
        }
    }
    Reply {
        status,
        headers: map,
        body,
    }
}

// ------------------------------------------------------------------------------------------
// 1. Events
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn event_any_json(v in arb_json()) {
        check_event(&v);
        check_event_bytes(to_text(&v).as_bytes());
    }

    #[test]
    fn event_fixture_structural_mutations(
        which in 0..EVENTS.len(),
        edits in vec(arb_value_edit(), 1..4),
    ) {
        let mut v: Value = serde_json::from_str(EVENTS[which]).unwrap();
        for e in &edits {
            apply_value_edit(&mut v, e);
        }
        check_event(&v);
    }

    #[test]
    fn event_fixture_byte_mutations(
        which in 0..EVENTS.len(),
        edits in vec(arb_edit(), 1..8),
    ) {
        check_event_bytes(&apply(EVENTS[which].as_bytes(), &edits));
    }

    #[test]
    fn event_deep_nesting(depth in 1usize..4000, object in any::<bool>()) {
        // serde_json stops at 128 levels; under it, nothing of ours may recurse without end.
        check_event_bytes(deep_text(depth, object).as_bytes());
        let wrapped = format!("{{\"domains\":{}}}", deep_text(depth, object));
        check_event_bytes(wrapped.as_bytes());
    }

    #[test]
    fn event_http_bodies(
        which in prop_oneof![Just(0usize), Just(1), Just(8), Just(9)],
        body in prop_oneof![arb_json().prop_map(|v| to_text(&v)), ".{0,64}"],
        b64 in any::<bool>(),
        headers in btree_map("[a-zA-Z-]{1,20}", prop_oneof![arb_json(), arb_string().prop_map(Value::String)], 0..6),
    ) {
        use base64::Engine as _;
        let mut v: Value = serde_json::from_str(EVENTS[which]).unwrap();
        v["body"] = if b64 {
            json!(base64::engine::general_purpose::STANDARD.encode(&body))
        } else {
            json!(body)
        };
        v["isBase64Encoded"] = json!(b64);
        for (k, h) in headers {
            v["headers"][k] = h;
        }
        check_event(&v);
    }
}

/// The whole invocation without credentials, so it stops before any call: classify,
/// authenticate, merge with `DEPLOY_REQUEST`, parse, answer.
fn check_app(event: Value, platform: Platform) {
    let env = |k: &str| match k {
        // The token of the sample events, so their bodies get through.
        "DEPLOY_WEBHOOK_TOKEN" => Some("example-webhook-token".to_string()),
        // The whole request, so that bodies get past narrowing into the request parser.
        "DEPLOY_HTTP_ALLOW" => Some("request".to_string()),
        "DEPLOY_REQUEST" => Some(r#"{"domains": ["www.example.com"]}"#.to_string()),
        _ => None,
    };
    let app = cdn_cert_deploy::app::App::from_config(
        cdn_cert_deploy::config::Config::from_env(env),
        platform,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let reply = rt.block_on(app.invoke(
        event,
        cdn_cert_deploy::app::Context {
            platform_budget: Duration::from_secs(60),
            received: tokio::time::Instant::now(),
            credentials: None,
        },
    ));
    assert!(reply.body.is_object(), "{}", reply.body);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn app_invoke_any_event(
        event in prop_oneof![
            arb_json(),
            (0..EVENTS.len(), vec(arb_value_edit(), 0..3)).prop_map(|(which, edits)| {
                let mut v: Value = serde_json::from_str(EVENTS[which]).unwrap();
                for e in &edits {
                    apply_value_edit(&mut v, e);
                }
                v
            }),
        ],
        platform in prop_oneof![Just(Platform::Lambda), Just(Platform::FunctionGraph), Just(Platform::Cli)],
    ) {
        check_app(event, platform);
    }
}

// ------------------------------------------------------------------------------------------
// 2. The deploy request
// ------------------------------------------------------------------------------------------

/// A value of the field's type most of the time, of any type sometimes.
fn field_value(name: &'static str) -> BoxedStrategy<Value> {
    let right: BoxedStrategy<Value> = match name {
        "domains" => prop_oneof![
            vec("[a-zA-Z0-9.*_-]{0,70}", 0..8).prop_map(|v| json!(v)),
            "[a-z0-9., ;*-]{0,80}".prop_map(Value::String),
            vec(".{0,300}", 0..3).prop_map(|v| json!(v)),
        ]
        .boxed(),
        "match" => prop_oneof![
            Just(json!("exact")),
            Just(json!("certsan")),
            ".{0,8}".prop_map(Value::String)
        ]
        .boxed(),
        "certificate" => prop_oneof![
            proptest::sample::select(CERTS).prop_map(|c| json!(c)),
            ".{0,64}".prop_map(Value::String),
        ]
        .boxed(),
        "private_key" => prop_oneof![
            proptest::sample::select(KEYS).prop_map(|c| json!(c)),
            ".{0,64}".prop_map(Value::String),
        ]
        .boxed(),
        "certificate_name" => ".{0,80}".prop_map(Value::String).boxed(),
        "certificate_source" => arb_source().boxed(),
        "options" => btree_map(
            proptest::sample::select(
                &[
                    "force",
                    "dry_run",
                    "wait",
                    "time_budget_secs",
                    "http2",
                    "tls_version",
                    "ocsp_stapling",
                    "fail_on_error",
                    "warn_days",
                    "no_sm_certificates",
                    "verify_edge",
                    "forse",
                ][..],
            ),
            prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                any::<u64>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                prop_oneof![
                    Just("on"),
                    Just("off"),
                    Just("ON"),
                    Just("TLSv1.2,TLSv1.3"),
                    Just("tlsv1.0, TLSv1.2"),
                    Just(",,")
                ]
                .prop_map(|s| json!(s)),
                "[TLSv1.0-3, ]{0,30}".prop_map(Value::String),
                arb_leaf(),
            ],
            0..8,
        )
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
        .boxed(),
        _ => arb_string().prop_map(Value::String).boxed(),
    };
    prop_oneof![4 => right, 1 => arb_json()].boxed()
}

fn arb_locations() -> impl Strategy<Value = Value> {
    btree_map(
        proptest::sample::select(&["certificate", "private_key", "chain", "other"][..]),
        prop_oneof![".{0,16}".prop_map(Value::String), arb_leaf()],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn arb_source() -> impl Strategy<Value = Value> {
    let kind = proptest::sample::select(
        &[
            "secretsmanager",
            "s3",
            "ssm",
            "csms",
            "obs",
            "scm",
            "S3",
            "",
            "nope",
        ][..],
    );
    let field = proptest::sample::select(
        &[
            "secret_id",
            "json_keys",
            "version_stage",
            "bucket",
            "keys",
            "prefix",
            "parameters",
            "secret_name",
            "version",
            "certificate_id",
            "region",
            "extra",
        ][..],
    );
    (
        kind,
        btree_map(
            field,
            prop_oneof![
                "[a-z0-9./_-]{0,70}".prop_map(Value::String),
                arb_locations(),
                arb_leaf(),
            ],
            0..5,
        ),
    )
        .prop_map(|(kind, fields)| {
            let mut o: Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            o.insert("type".into(), json!(kind));
            Value::Object(o)
        })
}

fn arb_request() -> impl Strategy<Value = Value> {
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = TOP_FIELDS
        .iter()
        .map(|name| {
            proptest::option::weighted(0.5, field_value(name))
                .prop_map(move |v| v.map(|v| (name.to_string(), v)))
                .boxed()
        })
        .collect();
    fields.push(proptest::option::weighted(0.1, (arb_key(), arb_json())).boxed());
    fields.prop_map(|fs| Value::Object(fs.into_iter().flatten().collect()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_every_field_random(r in arb_request()) {
        check_request(&r);
        check_event(&r);
    }

    #[test]
    fn request_text_round_trip(r in arb_request()) {
        // As a function body: the text (with huge numbers) through the HTTP body reader.
        if let Ok((v, _)) = event::request_from_body(to_text(&r).as_bytes()) {
            check_request(&v);
        }
    }

    #[test]
    fn redact_parser_messages(
        parts in vec(prop_oneof![
            Just("string \"".to_string()), Just("\\".to_string()), Just("\"".to_string()),
            Just("`".to_string()), Just("-----".to_string()), Just("\n".to_string()),
            Just(" at line ".to_string()), ".{0,12}", "é{0,70}",
        ], 0..16),
    ) {
        let msg = parts.concat();
        let out = cdn_cert_deploy::redact::serde_message(&msg);
        prop_assert!(out.len() <= msg.len() + 3 * msg.matches('`').count() + 2 * msg.len());
    }

    #[test]
    fn request_domains_normalize(names in vec(".{0,80}", 0..16)) {
        match request::normalize_domains(&names) {
            Ok(d) => prop_assert!(d.len() <= names.len()),
            Err(e) => prop_assert!(e.field.starts_with("domains[")),
        }
    }
}

// ------------------------------------------------------------------------------------------
// 3. PEM chains and keys
// ------------------------------------------------------------------------------------------

/// The mutations of a real PEM the brief lists, plus byte edits.
#[derive(Debug, Clone)]
enum PemEdit {
    Truncate(usize),
    DoubleBegin,
    BadBase64(usize, u8),
    Repeat(usize),
    Crlf,
    LeadingGarbage(Vec<u8>),
    Bytes(Vec<Edit>),
    Label(String),
    Concat(usize),
}

fn arb_pem_edit() -> impl Strategy<Value = PemEdit> {
    prop_oneof![
        any::<usize>().prop_map(PemEdit::Truncate),
        Just(PemEdit::DoubleBegin),
        (
            any::<usize>(),
            proptest::sample::select(&b"!@#$%^&*()=-_.~ \t\0\xff"[..])
        )
            .prop_map(|(p, b)| PemEdit::BadBase64(p, b)),
        (2usize..=50).prop_map(PemEdit::Repeat),
        Just(PemEdit::Crlf),
        vec(any::<u8>(), 1..64).prop_map(PemEdit::LeadingGarbage),
        vec(arb_edit(), 1..6).prop_map(PemEdit::Bytes),
        "[A-Z ]{0,24}".prop_map(PemEdit::Label),
        any::<usize>().prop_map(PemEdit::Concat),
    ]
}

fn apply_pem(base: &str, edit: &PemEdit) -> String {
    match edit {
        PemEdit::Truncate(p) => {
            let cut = p % (base.len() + 1);
            String::from_utf8_lossy(&base.as_bytes()[..cut]).into_owned()
        }
        PemEdit::DoubleBegin => base.replacen("-----BEGIN ", "-----BEGIN -----BEGIN ", 1),
        PemEdit::BadBase64(p, b) => {
            let mut bytes = base.as_bytes().to_vec();
            // Inside the base64 body: after the first line.
            let start = base.find('\n').map_or(0, |i| i + 1);
            if bytes.len() > start {
                let i = start + p % (bytes.len() - start);
                bytes[i] = *b;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        PemEdit::Repeat(n) => base.repeat(*n),
        PemEdit::Crlf => base.replace('\n', "\r\n"),
        PemEdit::LeadingGarbage(g) => format!("{}{base}", String::from_utf8_lossy(g)),
        PemEdit::Bytes(edits) => {
            String::from_utf8_lossy(&apply(base.as_bytes(), edits)).into_owned()
        }
        PemEdit::Label(l) => base.replace("CERTIFICATE", l).replace("PRIVATE KEY", l),
        PemEdit::Concat(i) => format!("{base}{}", KEYS[i % KEYS.len()]),
    }
}

fn check_cert(chain: &str, key: &str) {
    let _ = cert::parse_chain(chain);
    let _ = cert::leaf_fingerprint(chain);
    let _ = cert::leaf_not_after(chain);
    if let Some(f) = cert::leaf_facts(chain) {
        assert_eq!(f.fingerprint.len(), 64);
    }
    if let Ok(ders) = cert::parse_chain(chain) {
        for der in &ders {
            if let Ok(info) = cert::inspect(der) {
                let name = cert::derive_name(&info);
                assert!(name.chars().count() <= 64, "{name}");
                for n in &info.subject_names {
                    let _ = cert::covers(n, "www.example.com");
                }
            }
        }
    }
    match cert::validate(chain, &Secret::new(key), NOW) {
        Ok(bundle) => {
            // What is uploaded parses again, to the same leaf.
            let again = cert::parse_chain(&bundle.chain_pem).unwrap();
            assert_eq!(
                cert::leaf_fingerprint(&bundle.chain_pem).unwrap(),
                bundle.leaf.sha256_fingerprint
            );
            assert!(!again.is_empty());
        }
        Err(e) => {
            assert!(matches!(e.field(), "certificate" | "private_key"));
            assert!(!e.to_string().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pem_random_bytes(chain in vec(any::<u8>(), 0..2048), key in vec(any::<u8>(), 0..2048)) {
        check_cert(&String::from_utf8_lossy(&chain), &String::from_utf8_lossy(&key));
    }

    #[test]
    fn pem_random_text_in_blocks(
        body in "[A-Za-z0-9+/=\n]{0,600}",
        label in prop_oneof![Just("CERTIFICATE"), Just("PRIVATE KEY"), Just("RSA PRIVATE KEY"), Just("EC PRIVATE KEY"), Just("EC PARAMETERS"), Just("ENCRYPTED PRIVATE KEY"), Just("X")],
    ) {
        let pem = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        check_cert(&pem, &pem);
        check_cert(CERTS[0], &pem);
    }

    #[test]
    fn pem_fixture_mutations(
        c in 0..CERTS.len(),
        k in 0..KEYS.len(),
        cert_edits in vec(arb_pem_edit(), 0..3),
        key_edits in vec(arb_pem_edit(), 0..3),
    ) {
        let mut chain = CERTS[c].to_string();
        for e in &cert_edits {
            chain = apply_pem(&chain, e);
        }
        let mut key = KEYS[k].to_string();
        for e in &key_edits {
            key = apply_pem(&key, e);
        }
        chain.truncate(chain.floor_char_boundary(256 * 1024));
        key.truncate(key.floor_char_boundary(256 * 1024));
        check_cert(&chain, &key);
    }

    #[test]
    fn der_random_and_mutated(
        c in 0..CERTS.len(),
        edits in vec(arb_edit(), 0..6),
        random in vec(any::<u8>(), 0..512),
    ) {
        let der = cert::parse_chain(CERTS[c]).unwrap().remove(0);
        let _ = cert::inspect(&apply(&der, &edits));
        let _ = cert::inspect(&random);
    }
}

// ------------------------------------------------------------------------------------------
// 4. Certificate-store payloads and error bodies
// ------------------------------------------------------------------------------------------

fn check_secret(text: &str, keys: Option<&Locations>) {
    match extract::from_secret(text, keys) {
        Ok(pair) => check_cert(&pair.chain, pair.private_key.expose()),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
            assert!(matches!(e.reason(), "bad_json_key" | "invalid_content"));
            if let ExtractError::MissingKey { key, .. } | ExtractError::NotString(key) = &e {
                assert!(msg.contains(key.as_str()), "{msg}");
            }
        }
    }
}

fn arb_secret_json() -> impl Strategy<Value = Value> {
    let key = proptest::sample::select(
        &[
            "fullchain.pem",
            "fullchain",
            "full_chain",
            "cert.pem",
            "certificate",
            "cert",
            "crt",
            "chain.pem",
            "chain",
            "certificate_chain",
            "ca",
            "privkey.pem",
            "private_key",
            "privkey",
            "key",
            "other",
        ][..],
    );
    let value = prop_oneof![
        4 => proptest::sample::select(CERTS).prop_map(|c| json!(c)),
        4 => proptest::sample::select(KEYS).prop_map(|c| json!(c)),
        2 => arb_leaf(),
        1 => arb_json(),
    ];
    btree_map(key, value, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_secret_layouts(
        secret in arb_secret_json(),
        bom in any::<bool>(),
        keys in proptest::option::of((".{0,12}", ".{0,12}", proptest::option::of(".{0,12}"))),
    ) {
        let text = format!("{}{}", if bom { "\u{feff}" } else { "" }, to_text(&secret));
        let keys = keys.map(|(certificate, private_key, chain)| Locations { certificate, private_key, chain });
        check_secret(&text, keys.as_ref());
        check_secret(&text, None);
    }

    #[test]
    fn store_pem_bundles(
        parts in vec(prop_oneof![
            proptest::sample::select(CERTS).prop_map(str::to_string),
            proptest::sample::select(KEYS).prop_map(str::to_string),
            ".{0,40}",
            Just("-----BEGIN ".to_string()),
            Just("-----END CERTIFICATE-----".to_string()),
            Just("-----BEGIN -----".to_string()),
            Just("Bag Attributes\n    localKeyID: 01\n".to_string()),
        ], 0..8),
        edits in vec(arb_edit(), 0..4),
    ) {
        let text = parts.concat();
        let text = String::from_utf8_lossy(&apply(text.as_bytes(), &edits)).into_owned();
        check_secret(&text, None);
        match extract::from_bundle(&text) {
            Ok(p) => prop_assert!(p.chain.contains("-----BEGIN CERTIFICATE-----")),
            Err(e) => prop_assert!(matches!(e, ExtractError::BundleMissing(_))),
        }
        let _ = extract::text("object", apply(text.as_bytes(), &edits));
        let _ = extract::join(&text, Some(&text));
    }

    #[test]
    fn store_error_bodies(
        status in prop_oneof![Just(200u16), Just(400), Just(403), Just(404), Just(429), Just(500), 100u16..1000],
        json_body in arb_json(),
        xml in vec(prop_oneof![
            Just("<Error>".to_string()), Just("</Error>".to_string()),
            Just("<Code>".to_string()), Just("</Code>".to_string()),
            Just("<Message>".to_string()), Just("</Message>".to_string()),
            Just("<MessageId>".to_string()), Just("</MessageId>".to_string()),
            Just("<RequestId>".to_string()), Just("</RequestId>".to_string()),
            Just("NoSuchKey".to_string()), ".{0,20}",
        ], 0..12),
        raw in vec(any::<u8>(), 0..256),
        headers in vec(
            (prop_oneof![Just("x-amzn-errortype".to_string()), Just("x-amzn-requestid".to_string()), Just("x-request-id".to_string()), Just("x-obs-request-id".to_string()), "[a-z-]{1,12}"],
             prop_oneof![".{0,40}".prop_map(String::from), Just("a#b:c".to_string()), Just("#".to_string()), Just(":".to_string())]),
            0..4),
        format in proptest::sample::select(&[WebhookFormat::Slack, WebhookFormat::Feishu, WebhookFormat::DingTalk, WebhookFormat::WeCom, WebhookFormat::Json][..]),
    ) {
        let xml = xml.concat().into_bytes();
        let json_text = to_text(&json_body).into_bytes();
        for body in [json_text, xml, raw] {
            // AWS JSON 1.1 (Secrets Manager, SSM).
            let r = reply(status, &headers, body.clone());
            let e = aws::json_error(&r);
            let want = format!("HTTP {status}");
            prop_assert!(e.detail.contains(&want), "{}", e.detail);
            let _ = aws::secret_value_text(&r);
            let _ = aws::parameter_value(&r);
            // S3 and OBS XML.
            let _ = reply(status, &headers, body.clone()).object_body("x-amz-request-id");
            let _ = wire::xml_field(&body, "Code");
            // CSMS.
            let _ = huawei::csms_secret_text(&r);
            // SCM.
            let _ = huawei::scm_certificate_answer(&r);
            let _ = wire::secret_text(None, Some(String::from_utf8_lossy(&body).into_owned()), ("s", "b"));
            // The notification channels' answers.
            let _ = sns::judge(&r);
            let _ = smn::judge(&r);
            let _ = webhook::judge(format, &r);
        }
    }

    #[test]
    fn store_success_answers(
        shape in prop_oneof![
            (proptest::option::of(arb_leaf()), proptest::option::of(arb_leaf())).prop_map(|(s, b)| {
                let mut o = Map::new();
                if let Some(s) = s { o.insert("SecretString".into(), s); }
                if let Some(b) = b { o.insert("SecretBinary".into(), b); }
                Value::Object(o)
            }),
            arb_leaf().prop_map(|v| json!({"Parameter": {"Value": v}})),
            (proptest::option::of(arb_leaf()), proptest::option::of(arb_leaf())).prop_map(|(s, b)| {
                json!({"version": {"secret_string": s, "secret_binary": b}})
            }),
            (proptest::option::of(arb_leaf()), proptest::option::of(arb_leaf()), proptest::option::of(arb_leaf()), proptest::option::of(arb_leaf())).prop_map(|(d, sans, t, st)| {
                json!({"domain": d, "sans": sans, "not_after": t, "status": st, "domain_count": 2})
            }),
            arb_json(),
        ],
        time in prop_oneof![
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,3})?([Z+-][0-9:é]{0,6})?",
            "[0-9]{0,20}",
            ".{0,30}",
        ],
    ) {
        let r = reply(200, &[], to_text(&shape).into_bytes());
        let _ = aws::secret_value_text(&r);
        let _ = aws::parameter_value(&r);
        let _ = huawei::csms_secret_text(&r);
        // SCM ShowCertificate: names bounded, every check total.
        if let Ok(c) = huawei::scm_certificate_answer(&r) {
            let f = c.facts();
            prop_assert!(f.subject_names.len() <= scm::MAX_NAMES);
            prop_assert!(f.subject_names.iter().all(|n| !n.is_empty() && !n.contains(';')));
            let _ = scm::check(&f, NOW);
        }
        let _ = scm::parse_time(&time);
    }
}

// ------------------------------------------------------------------------------------------
// 5. CDN answers
// ------------------------------------------------------------------------------------------

/// A value for a field of the CDN's answers: its type mostly, anything sometimes.
fn cdn_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => arb_leaf(),
        1 => proptest::sample::select(&["on", "off", "online", "configuring", "server", "server_sm", "http", "https", "follow", "success", "fail"][..]).prop_map(|s| json!(s)),
        1 => proptest::sample::select(CERTS).prop_map(|c| json!(c)),
        1 => arb_json(),
    ]
}

fn cdn_object(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    btree_map(
        proptest::sample::select(fields),
        cdn_value(),
        0..=fields.len(),
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

const HTTPS_GET: &[&str] = &[
    "https_status",
    "certificate_name",
    "certificate_value",
    "expire_time",
    "certificate_source",
    "scm_certificate_id",
    "certificate_type",
    "enc_certificate_value",
    "certificates",
    "http2_status",
    "tls_version",
    "ocsp_stapling_status",
];
const HTTPS_DETAIL: &[&str] = &[
    "domain_name",
    "cert_name",
    "certificate",
    "certificate_type",
    "expiration_time",
    "https_status",
    "force_redirect_https",
    "force_redirect_config",
    "http2",
];
const CONFIGS: &[&str] = &[
    "origin_protocol",
    "service_area",
    "https_tls_version",
    "hsts",
    "quic",
    "sni",
    "client_cert",
];

fn arb_cdn_answer() -> impl Strategy<Value = Value> {
    prop_oneof![
        cdn_object(&["domain_name", "domain_status", "cname"]).prop_map(|d| json!({"domain": d})),
        (
            any::<i64>(),
            vec(cdn_object(&["domain_name", "domain_status", "cname"]), 0..4)
        )
            .prop_map(|(t, d)| json!({"total": t, "domains": d})),
        (cdn_value(), vec(cdn_object(HTTPS_DETAIL), 0..4))
            .prop_map(|(t, h)| json!({"total": t, "https": h})),
        (
            cdn_value(),
            vec(cdn_object(&["domain_name", "status", "reason"]), 0..4)
        )
            .prop_map(|(s, r)| json!({"status": s, "result": r})),
        (
            cdn_object(CONFIGS),
            proptest::option::of(cdn_object(HTTPS_GET)),
            proptest::option::of(cdn_object(&["status", "type", "redirect_code"])),
            vec(
                cdn_object(&[
                    "certificate_type",
                    "certificate_source",
                    "enc_certificate_value"
                ]),
                0..3
            ),
        )
            .prop_map(|(mut c, h, f, certs)| {
                if let Some(mut h) = h {
                    if !certs.is_empty() {
                        h["certificates"] = json!(certs);
                    }
                    c["https"] = h;
                }
                if let Some(f) = f {
                    c["force_redirect"] = f;
                }
                json!({"configs": c})
            }),
        arb_json(),
    ]
}

fn target() -> Target {
    Target::Pem {
        name: "demo".into(),
        chain_pem: CERTS[0].into(),
        private_key: Secret::new(KEYS[0]),
        fingerprint: cert::leaf_fingerprint(CERTS[0]).unwrap(),
    }
}

fn check_cdn_answer(bytes: &[u8], status: u16) {
    if let Some((code, message)) = parse_error_body(bytes) {
        let e = CdnError::Api {
            http_status: status,
            code,
            message,
            request_id: None,
            retry_after: None,
        };
        let _ = (e.kind(), e.retryable(), e.code(), e.to_string());
    }
    let target = target();
    let overrides = Overrides::default();
    if let Ok(d) = serde_json::from_slice::<DomainDetailBody>(bytes) {
        let _ = decide::after_read(&d.domain.domain_status, None, &target, false);
    }
    if let Ok(l) = serde_json::from_slice::<DomainList>(bytes) {
        for d in &l.domains {
            let _ = d.domain_status.as_str();
        }
    }
    if let Ok(l) = serde_json::from_slice::<HttpsInfoList>(bytes) {
        for d in l.https {
            let entry = BulkEntry::new(d, cert::leaf_facts);
            let _ = entry.not_after();
            let _ = entry.serves(&target);
        }
    }
    if let Ok(a) = serde_json::from_slice::<BatchAnswer>(bytes) {
        let _ = a.failures();
    }
    if let Ok(c) = serde_json::from_slice::<FullConfigBody>(bytes) {
        let c = c.configs;
        let v = settings::view(&c);
        let _ = settings::at_risk(&v);
        let _ = settings::class_of(&c);
        assert!(settings::changes(&v, &v, &overrides).is_empty());
        let _ = settings::batch_key(&c, &overrides);
        let _ = settings::sm_in_use(c.https.as_ref());
        if let Some(h) = &c.https {
            let _ = decide::served_not_after(h);
            let _ = decide::serves(Some(h), &target);
            let _ = decide::https_put(Some(h), &target, &overrides);
        }
        let https = decide::https_put(c.https.as_ref(), &target, &overrides);
        let put = decide::full_put(&c, https);
        let _ = serde_json::to_value(put.configs());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cdn_answers_of_the_real_shapes(answer in arb_cdn_answer(), status in 100u16..600) {
        check_cdn_answer(to_text(&answer).as_bytes(), status);
    }

    #[test]
    fn cdn_error_bodies(
        style in 0usize..4,
        code in arb_leaf(),
        message in arb_leaf(),
        status in 100u16..600,
    ) {
        let (c, m) = [("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"), ("error_code", "error_msg")][style];
        let body = if style == 3 {
            json!({"error": {c: code, m: message}})
        } else {
            json!({c: code, m: message})
        };
        let text = to_text(&body);
        check_cdn_answer(text.as_bytes(), status);
        if let Some((code, _)) = parse_error_body(text.as_bytes()) {
            prop_assert!(code.len() <= text.len());
        }
    }

    #[test]
    fn cdn_retry_after_header(
        value in prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            (0u64..100_000).prop_map(|n| format!(" {n} ")),
            ".{0,30}",
            "[0-9]{0,30}",
        ],
        status in prop_oneof![Just(429u16), Just(503), 100u16..600],
        attempt in 0u32..64,
    ) {
        // The header's way: parsed, then the wait before the retry, napped within the budget.
        let after = parse_retry_after(&value);
        let e = CdnError::Api {
            http_status: status,
            code: String::new(),
            message: String::new(),
            request_id: None,
            retry_after: after,
        };
        let wait = calls::retry_wait(&e, attempt);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let _ = calls::nap(deadline, wait).await;
        });
    }

    #[test]
    fn cdn_answer_bytes(answer in arb_cdn_answer(), edits in vec(arb_edit(), 1..6)) {
        check_cdn_answer(&apply(to_text(&answer).as_bytes(), &edits), 200);
    }
}

// ------------------------------------------------------------------------------------------
// 6. HTTP authentication headers
// ------------------------------------------------------------------------------------------

fn post(headers: &[(&str, String)], body: &[u8]) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        body: body.to_vec(),
        too_large: false,
    }
}

fn signature_header() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        any::<i64>().prop_map(|t| format!("t={t}")),
        "[0-9-+]{0,40}".prop_map(|t| format!("t={t}")),
        "[0-9a-fA-F]{0,80}".prop_map(|v| format!("v1={v}")),
        ".{0,20}".prop_map(|v| format!("v1={v}")),
        ".{0,20}",
        Just(String::new()),
        Just("=".to_string()),
        Just("t=".to_string()),
        Just("t=1e9".to_string()),
        Just("t=9223372036854775807".to_string()),
        Just("t=-9223372036854775808".to_string()),
    ];
    prop_oneof![
        vec(part, 0..8).prop_map(|p| p.join(",")),
        ".{0,200}",
        (0usize..5000).prop_map(|n| ",".repeat(n)),
        (0usize..5000).prop_map(|n| format!("t={}", "9".repeat(n))),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn http_signature_header(
        header in signature_header(),
        body in vec(any::<u8>(), 0..256),
        now in prop_oneof![Just(NOW), any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
    ) {
        let auth = HttpAuth { secret: Some(Secret::new("s3cret")), token: None, none: false, ..Default::default() };
        let r = http::admit(&post(&[("x-deploy-signature", header.clone())], &body), &auth, now);
        match r {
            // A random header cannot carry the right HMAC.
            Ok(()) => prop_assert!(false, "a random signature was accepted: {}", header),
            Err(rej) => prop_assert_eq!(rej.status, 401),
        }
    }

    #[test]
    fn http_signatures_in_and_out_of_the_window(
        t in any::<i64>(),
        now in any::<i64>(),
        body in vec(any::<u8>(), 0..64),
    ) {
        let auth = HttpAuth { secret: Some(Secret::new("s3cret")), token: None, none: false, ..Default::default() };
        let header = http::sign("s3cret", &body, t);
        let r = http::admit(&post(&[("x-deploy-signature", header)], &body), &auth, now);
        let within = (i128::from(now) - i128::from(t)).abs() <= i128::from(http::SIGNATURE_WINDOW_SECS);
        match r {
            Ok(()) => prop_assert!(within),
            Err(rej) => {
                prop_assert!(!within, "{rej:?}");
                prop_assert_eq!(rej.status, 401);
            }
        }
    }

    #[test]
    fn http_bearer_header(
        value in prop_oneof![
            ".{0,100}",
            ".{0,40}".prop_map(|t| format!("Bearer {t}")),
            Just("Bearer t0ken".to_string()),
            Just("  Bearer   t0ken  ".to_string()),
            Just("bearer t0ken".to_string()),
            Just("Bearer t0ken,Bearer x".to_string()),
            (0usize..5000).prop_map(|n| format!("Bearer {}", "é".repeat(n))),
        ],
        signature in proptest::option::of(signature_header()),
        method in prop_oneof![Just("POST".to_string()), Just("post".to_string()), "[A-Z]{0,8}", ".{0,8}"],
    ) {
        let auth = HttpAuth { secret: None, token: Some(Secret::new("t0ken")), none: false, ..Default::default() };
        let mut headers = vec![("authorization", value.clone())];
        if let Some(s) = signature {
            headers.push(("x-deploy-signature", s));
        }
        let mut req = post(&headers, b"{}");
        req.method = method.clone();
        let valid = value.trim().strip_prefix("Bearer ").map(str::trim) == Some("t0ken");
        match http::admit(&req, &auth, NOW) {
            Ok(()) => prop_assert!(valid && method.eq_ignore_ascii_case("POST")),
            Err(r) if !method.eq_ignore_ascii_case("POST") => prop_assert_eq!(r.status, 405),
            Err(r) => {
                prop_assert!(!valid, "{r:?}");
                prop_assert_eq!(r.status, 401);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// 7. The runtime APIs' headers
// ------------------------------------------------------------------------------------------

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        "[0-9]{0,30}".prop_map(String::into_bytes),
        ".{0,40}".prop_map(String::into_bytes),
        any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        arb_json().prop_map(|v| to_text(&v).into_bytes()),
    ]
}

fn header_map(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append(*k, v);
        }
    }
    h
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lambda_runtime_headers(
        deadline in header_value(),
        client_context in proptest::option::of(header_value()),
        identity in proptest::option::of(header_value()),
        arn in proptest::option::of(header_value()),
        now_ms in any::<u64>(),
    ) {
        let mut pairs = vec![("lambda-runtime-deadline-ms", deadline)];
        if let Some(v) = client_context { pairs.push(("lambda-runtime-client-context", v)); }
        if let Some(v) = identity { pairs.push(("lambda-runtime-cognito-identity", v)); }
        if let Some(v) = arn { pairs.push(("lambda-runtime-invoked-function-arn", v)); }
        let headers = header_map(&pairs);
        // The header must be there (lambda_runtime expects it); its value may be anything.
        if headers.contains_key("lambda-runtime-deadline-ms") {
            let ctx = lambda_runtime::Context::new("id", Arc::new(lambda_runtime::Config::default()), &headers);
            if let Ok(ctx) = ctx {
                let b = lambda::budget_from_deadline(ctx.deadline, now_ms);
                prop_assert!(b >= Duration::from_millis(500));
                prop_assert!(b <= lambda::DEFAULT_BUDGET.max(Duration::from_millis(ctx.deadline.saturating_sub(now_ms))));
            }
        }
    }

    #[test]
    fn lambda_budget_any_deadline(deadline in any::<u64>(), now in any::<u64>()) {
        let b = lambda::budget_from_deadline(deadline, now);
        prop_assert!(b >= Duration::from_millis(500));
    }

    #[test]
    fn functiongraph_headers_and_timeout(
        values in vec(header_value(), 6),
        present in vec(any::<bool>(), 6),
        timeout in proptest::option::of(prop_oneof![
            ".{0,30}", "[0-9]{0,40}", any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()), Just(" 30 ".to_string()), Just("0".to_string()),
        ]),
        domain_id in proptest::option::of(".{0,20}"),
    ) {
        const NAMES: [&str; 6] = [
            "x-cff-security-access-key", "x-cff-access-key", "x-cff-security-secret-key",
            "x-cff-secret-key", "x-cff-security-token", "x-cff-auth-token",
        ];
        let pairs: Vec<(&'static str, Vec<u8>)> = NAMES
            .iter()
            .zip(values)
            .zip(present)
            .filter(|(_, p)| *p)
            .map(|((n, v), _)| (*n, v))
            .collect();
        let headers = header_map(&pairs);
        if let Some(c) = functiongraph::agency_credentials(&headers, domain_id) {
            prop_assert!(!c.access_key.is_empty());
            prop_assert!(!c.secret_key.expose().is_empty());
        }
        let b = functiongraph::budget(timeout.as_deref());
        prop_assert!(b >= Duration::from_millis(500));
    }
}
