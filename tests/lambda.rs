//! The real binary on a Lambda Runtime API (2018-06-01) served by the test, deploying through
//! the simulator: every trigger a user wires up, HTTP authentication, and chained runs.

mod common;

use std::time::Duration;

use base64::Engine as _;
use cdn_cert_deploy::http::sign;
use cdn_cert_deploy::sim::{Outcome, SimDomainConfig, Simulator};
use common::runtime_api::{Flavor, RuntimeApi};
use common::*;
use serde_json::{json, Value};
use tokio::process::Child;

const WEBHOOK_SECRET: &str = "webhook-signing-secret-for-tests";
const WEBHOOK_TOKEN: &str = "example-webhook-token";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The sample HTTP API event carrying `body`, signed (or not) as a sender would.
fn apigw_v2(body: &str, signature: Option<String>) -> Value {
    let mut e = load_event("apigw-v2.json");
    e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    e["headers"] = json!({"content-type": "application/json"});
    if let Some(sig) = signature {
        e["headers"]["x-deploy-signature"] = json!(sig);
    }
    e
}

/// The release-like binary on the test runtime API, deploying to `sim` with the test keys and
/// the webhook secret, plus `extra`.
fn lambda_binary(api: &RuntimeApi, sim: &Simulator, extra: &[(&str, &str)]) -> Child {
    lambda_binary_logging(api, sim, extra, std::process::Stdio::null())
}

/// [`lambda_binary`] with its log lines (stderr) sent to `stderr`.
fn lambda_binary_logging(
    api: &RuntimeApi,
    sim: &Simulator,
    extra: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdn-cert-deploy"));
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "cdn-cert-deploy")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .env("HUAWEICLOUD_CDN_ENDPOINT", sim.endpoint())
        .env("DEPLOY_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("DEPLOY_TRUST_ROOTS", test_trust_roots())
        // These callers send whole requests (domains and all): the explicit opt-in.
        .env("DEPLOY_HTTP_ALLOW", "request");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.stderr(stderr).kill_on_drop(true).spawn().unwrap()
}

fn response_body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().expect("an HTTP response body")).unwrap()
}

#[tokio::test]
async fn a_trace_level_lambda_run_logs_no_key_signature_or_token() {
    // lambda_runtime traces every raw event at TRACE: the shell holds it at info.
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    let api = RuntimeApi::start(Flavor::Lambda).await;
    let direct = api.push(&request(&["www.example.com"], &cert), &[]);
    let body = request(&["www.example.com"], &cert).to_string();
    let signature = sign(WEBHOOK_SECRET, body.as_bytes(), now());
    let signed = api.push(&apigw_v2(&body, Some(signature.clone())), &[]);
    let mut bearer = apigw_v2(&body, None);
    bearer["headers"]["authorization"] = json!(format!("Bearer {WEBHOOK_TOKEN}"));
    let with_token = api.push(&bearer, &[]);
    let log = std::env::temp_dir().join(format!("lambda-trace-{}.log", std::process::id()));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = lambda_binary_logging(
        &api,
        &sim,
        &[
            ("RUST_LOG", "trace"),
            ("DEPLOY_WEBHOOK_TOKEN", WEBHOOK_TOKEN),
        ],
        file.into(),
    );
    let answers = api.answers(3, Duration::from_secs(60)).await;
    child.kill().await.ok();
    for id in [&direct, &signed, &with_token] {
        assert!(RuntimeApi::answer(&answers, id).ok);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    // RUST_LOG=trace: before the runtime was held at info, its trace of the raw event held
    // the key (this test failed then).
    assert!(text.contains("domain outcome"), "the run logged: {text}");
    let key_line = cert.key.lines().nth(1).unwrap();
    let hex = signature.split("v1=").nth(1).unwrap();
    for (what, secret) in [
        ("key", key_line),
        ("signature", hex),
        ("token", WEBHOOK_TOKEN),
    ] {
        assert!(!text.contains(secret), "the {what} reached the log");
    }
}

#[tokio::test]
async fn the_lambda_build_serves_every_trigger() {
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("www.example.com", 200),
        domain("img.example.com", 200),
        domain("cron.example.com", 200),
    ]))
    .await;
    let api = RuntimeApi::start(Flavor::Lambda).await;
    // A runtime API that answers 500 to the first polls is polled again: the process stays.
    api.refuse_polls(2);
    let defaults = json!({"domains": ["cron.example.com"], "certificate": cert.chain, "private_key": cert.key});

    let direct = api.push(&request(&["www.example.com"], &cert), &[]);
    let body = request(&["img.example.com"], &cert).to_string();
    let signed = api.push(
        &apigw_v2(&body, Some(sign(WEBHOOK_SECRET, body.as_bytes(), now()))),
        &[],
    );
    let mut url = load_event("function-url.json");
    url["body"] = json!(json!({"domains": ["www.example.com", "img.example.com"],
        "certificate": cert.chain, "private_key": cert.key})
    .to_string());
    let function_url = api.push(&url, &[]);
    let scheduled = api.push(&load_event("scheduler.json"), &[]);
    let mut dest = load_event("destination.json");
    dest["responsePayload"] = json!({"domains": ["www.example.com"], "certificate": cert.chain,
        "private_key": cert.key, "issuer": "test"});
    let destination = api.push(&dest, &[]);
    let bad_signature = api.push(
        &apigw_v2(&body, Some(sign("not-the-secret", body.as_bytes(), now()))),
        &[],
    );
    let garbage = "{\"domains\": [";
    let malformed = api.push(
        &apigw_v2(
            garbage,
            Some(sign(WEBHOOK_SECRET, garbage.as_bytes(), now())),
        ),
        &[],
    );
    let mut failing = request(&["missing.example.com"], &cert);
    failing["options"] = json!({"fail_on_error": true});
    let fail_on_error = api.push(&failing, &[]);
    let not_an_event = api.push(&json!(["not", "an", "event"]), &[]);

    let mut child = lambda_binary(
        &api,
        &sim,
        &[
            ("DEPLOY_WEBHOOK_TOKEN", WEBHOOK_TOKEN),
            ("DEPLOY_REQUEST", &defaults.to_string()),
        ],
    );
    let answers = api.answers(9, Duration::from_secs(90)).await;
    assert_eq!(api.refused(), 2, "the refused polls were made and survived");
    child.kill().await.ok();

    let a = RuntimeApi::answer(&answers, &direct);
    assert!(a.ok && a.body["ok"] == true, "direct: {:?}", a.body);

    let a = RuntimeApi::answer(&answers, &signed);
    assert_eq!(a.body["statusCode"], 200, "{:?}", a.body);
    assert_eq!(
        response_body(&a.body)["domains"][0]["domain"],
        "img.example.com"
    );

    let a = RuntimeApi::answer(&answers, &function_url);
    assert_eq!(a.body["statusCode"], 200, "{:?}", a.body);
    assert_eq!(response_body(&a.body)["summary"]["total"], 2);

    let a = RuntimeApi::answer(&answers, &scheduled);
    assert_eq!(a.body["ok"], true, "{:?}", a.body);
    assert_eq!(a.body["domains"][0]["domain"], "cron.example.com");

    let a = RuntimeApi::answer(&answers, &destination);
    assert_eq!(a.body["ok"], true, "{:?}", a.body);
    assert_eq!(
        a.body["domains"][0]["status"], "unchanged",
        "deployed by the direct call before"
    );

    let a = RuntimeApi::answer(&answers, &bad_signature);
    assert_eq!(a.body["statusCode"], 401);
    let a = RuntimeApi::answer(&answers, &malformed);
    assert_eq!(a.body["statusCode"], 400);
    assert!(response_body(&a.body)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("JSON"));

    let a = RuntimeApi::answer(&answers, &fail_on_error);
    assert!(
        !a.ok,
        "fail_on_error turns a failed run into an invocation error"
    );
    assert_eq!(a.body["errorType"], "DeployNotOk");
    assert!(a.body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("CDN.0170"));

    let a = RuntimeApi::answer(&answers, &not_an_event);
    assert!(!a.ok);
    assert!(a.body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("not a JSON object"));
    assert!(sim.domain("cron.example.com").unwrap().writes == 1);
}

/// Every notification channel down (a webhook answering 500, an SNS endpoint nobody listens on):
/// an HTTP caller still gets its status code and result, a chained run its result, each listing
/// the channels' failures; nothing else changes.
#[tokio::test]
async fn callers_get_their_answer_when_every_channel_is_down() {
    use common::webhook::WebhookReceiver;
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("www.example.com", 100),
        SimDomainConfig {
            outcome: Outcome::ConfigureFailed,
            ..domain("broken.example.com", 100)
        },
    ]))
    .await;
    let down = WebhookReceiver::start(None, Some(500)).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = RuntimeApi::start(Flavor::Lambda).await;
    let body = request(&["www.example.com", "broken.example.com"], &cert).to_string();
    let http = api.push(
        &apigw_v2(&body, Some(sign(WEBHOOK_SECRET, body.as_bytes(), now()))),
        &[],
    );
    let mut dest = load_event("destination.json");
    dest["responsePayload"] = json!({"domains": ["broken.example.com"], "certificate": cert.chain,
        "private_key": cert.key});
    let chained = api.push(&dest, &[]);
    let hook_url = format!("{}/slack/x", down.url);
    let sns_endpoint = format!("http://127.0.0.1:{closed}");
    let mut child = lambda_binary(
        &api,
        &sim,
        &[
            ("DEPLOY_NOTIFY_WEBHOOK_URL", &hook_url),
            ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "slack"),
            (
                "DEPLOY_NOTIFY_SNS_TOPIC_ARN",
                "arn:aws:sns:eu-west-1:123456789012:alerts",
            ),
            ("AWS_ACCESS_KEY_ID", "ASIADOWNCHANNELS0001"),
            ("AWS_SECRET_ACCESS_KEY", "down-channels-secret"),
            ("AWS_ENDPOINT_URL_SNS", &sns_endpoint),
        ],
    );
    let answers = api.answers(2, Duration::from_secs(60)).await;
    child.kill().await.ok();

    let a = RuntimeApi::answer(&answers, &http);
    assert_eq!(a.body["statusCode"], 502, "a domain failed: {:?}", a.body);
    let result = response_body(&a.body);
    assert_eq!(result["domains"][0]["status"], "deployed");
    assert_eq!(result["domains"][1]["status"], "failed");
    let told: Vec<(&str, bool)> = result["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["channel"].as_str().unwrap(), n["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(told, [("sns", false), ("webhook", false)]);
    assert!(result["elapsed_ms"].as_u64() <= result["budget_ms"].as_u64());

    let a = RuntimeApi::answer(&answers, &chained);
    assert!(a.ok, "a chained run answers with its result");
    assert_eq!(a.body["domains"][0]["status"], "failed");
    assert_eq!(a.body["notifications"][1]["error"]["http_status"], 500);
}
