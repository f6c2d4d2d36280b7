//! The real binary as a FunctionGraph custom runtime (`bootstrap`) on a runtime API served by
//! the test, deploying through the simulator with the agency's temporary keys.

mod common;

use std::time::Duration;

use base64::Engine as _;
use cdn_cert_deploy::sim::{Outcome, SimDomainConfig};
use common::runtime_api::{Flavor, RuntimeApi};
use common::*;
use serde_json::{json, Value};

const AGENCY_AK: &str = "AGENCYAKEXAMPLE00000";
const AGENCY_SK: &str = "agency-temporary-secret-key";
const AGENCY_TOKEN: &str = "agency-security-token-value";

#[tokio::test]
async fn the_functiongraph_bootstrap_serves_timers_apig_and_survives_garbage() {
    let cert = example_cert();
    let stuck = SimDomainConfig {
        outcome: Outcome::Stuck,
        ..domain("stuck.example.com", 100)
    };
    let mut cfg = sim_config(vec![
        domain("www.example.com", 200),
        domain("img.example.com", 200),
        stuck,
    ]);
    // The simulator knows only the agency's temporary keys, and wants their token.
    cfg.credentials[0].ak = AGENCY_AK.into();
    cfg.credentials[0].sk = AGENCY_SK.into();
    cfg.credentials[0].security_token = Some(AGENCY_TOKEN.into());
    let sim = start(cfg).await;
    let api = RuntimeApi::start(Flavor::FunctionGraph).await;
    // A runtime API that fails at first is retried, not a crash loop.
    api.refuse_polls(3);
    // ... and so is one that refuses answers: each is posted again (the runtime never exits).
    api.refuse_answers(2);
    let agency = [
        ("x-cff-security-access-key", AGENCY_AK),
        ("x-cff-security-secret-key", AGENCY_SK),
        ("x-cff-security-token", AGENCY_TOKEN),
    ];

    let garbage = api.push_raw("this is not JSON".into(), &agency);
    // 10 MB of `[0,0,…]`: refused on its size, never parsed.
    let huge = api.push_raw(format!("[{}0]", "0,".repeat(5 << 20)), &agency);
    let mut timer = load_event("functiongraph-timer.json");
    timer["user_event"] = json!(request(&["www.example.com"], &cert).to_string());
    let timer = api.push(&timer, &agency);
    let mut apig = load_event("functiongraph-apig.json");
    let body = request(&["img.example.com"], &cert).to_string();
    apig["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    let apig = api.push(&apig, &agency);
    let stuck = api.push(&request(&["stuck.example.com"], &cert), &agency);
    // Without the agency headers the environment's (wrong) keys are used.
    let no_agency = api.push(&request(&["www.example.com"], &cert), &[]);

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdn-cert-deploy"))
        .env_clear()
        .env("RUNTIME_API_ADDR", &api.addr)
        .env("RUNTIME_TIMEOUT", "6")
        .env("HUAWEICLOUD_SDK_AK", "ENVAKNOTKNOWNTOTHESIM")
        .env("HUAWEICLOUD_SDK_SK", "env-secret")
        .env("HUAWEICLOUD_CDN_ENDPOINT", sim.endpoint())
        .env("DEPLOY_TRUST_ROOTS", test_trust_roots())
        .env("DEPLOY_WEBHOOK_TOKEN", "example-webhook-token")
        // The APIG event sends a whole request (domains and all): the explicit opt-in.
        .env("DEPLOY_HTTP_ALLOW", "request")
        .env("RUST_LOG", "trace")
        .env("RUNTIME_FUNC_NAME", "cdn-cert-deploy-fg")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let answers = api.answers(6, Duration::from_secs(90)).await;
    child.start_kill().ok();
    let output = child.wait_with_output().await.unwrap();
    let logs = String::from_utf8(output.stderr).unwrap();
    // One metrics record (CloudWatch EMF, into LTS) a run on standard output, as it is; none for
    // the event that could not be read.
    let records: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records.len(), 4, "{records:#?}");
    for r in &records {
        assert_eq!(
            r["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "CdnCertDeploy"
        );
        assert_eq!(r["FunctionName"], "cdn-cert-deploy-fg");
    }
    let sum = |name: &str| {
        records
            .iter()
            .map(|r| r[name].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (sum("Deployed"), sum("Pending"), sum("Failed")),
        (2, 1, 1),
        "{records:#?}"
    );
    assert!(
        !logs.contains("\"_aws\""),
        "the records stay out of the log lines"
    );
    assert!(
        logs.contains("\"FunctionGraph invocation\""),
        "JSON logs by default"
    );
    for secret in [AGENCY_SK, AGENCY_TOKEN, "env-secret"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
    for line in cert.key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "the private key leaked into the logs");
    }

    assert_eq!(api.refused(), 3);
    assert_eq!(api.answers_refused(), 2);
    let a = RuntimeApi::answer(&answers, &garbage);
    assert!(!a.ok, "garbage is answered on the error endpoint");
    assert_eq!(a.body["errorType"], "InvalidEvent");
    let a = RuntimeApi::answer(&answers, &huge);
    assert!(!a.ok);
    assert!(
        a.body["errorMessage"].as_str().unwrap().contains("is over"),
        "{:?}",
        a.body
    );

    let a = RuntimeApi::answer(&answers, &timer);
    assert!(a.ok, "{:?}", a.body);
    assert_eq!(a.body["domains"][0]["status"], "deployed", "{:?}", a.body);

    let a = RuntimeApi::answer(&answers, &apig);
    assert_eq!(a.body["statusCode"], 200, "{:?}", a.body);
    let result: Value = serde_json::from_str(a.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(result["domains"][0]["domain"], "img.example.com");

    let a = RuntimeApi::answer(&answers, &stuck);
    assert_eq!(a.body["domains"][0]["status"], "pending", "{:?}", a.body);
    assert_eq!(
        a.body["budget_ms"], 3500,
        "RUNTIME_TIMEOUT 6 s less the safety margin"
    );
    assert!(a.body["elapsed_ms"].as_u64().unwrap() <= 3500);

    let a = RuntimeApi::answer(&answers, &no_agency);
    assert_eq!(a.body["domains"][0]["status"], "failed", "{:?}", a.body);
    assert_eq!(a.body["domains"][0]["error"]["http_status"], 401);
    assert_eq!(sim.domain("www.example.com").unwrap().writes, 1);
}

/// RUST_LOG=trace on FunctionGraph: a direct event with an inline key, and an APIG event with an
/// `X-Deploy-Signature` and a bearer token; the log holds none of them.
#[tokio::test]
async fn a_trace_level_functiongraph_run_logs_no_key_signature_or_token() {
    const SECRET: &str = "functiongraph-webhook-signing-secret";
    const TOKEN: &str = "functiongraph-webhook-bearer-token";
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 200)]);
    cfg.credentials[0].ak = AGENCY_AK.into();
    cfg.credentials[0].sk = AGENCY_SK.into();
    cfg.credentials[0].security_token = Some(AGENCY_TOKEN.into());
    let sim = start(cfg).await;
    let api = RuntimeApi::start(Flavor::FunctionGraph).await;
    let agency = [
        ("x-cff-security-access-key", AGENCY_AK),
        ("x-cff-security-secret-key", AGENCY_SK),
        ("x-cff-security-token", AGENCY_TOKEN),
    ];
    let direct = api.push(&request(&["www.example.com"], &cert), &agency);
    // The certificate-only default: the body is the pair, the domains come from DEPLOY_REQUEST.
    let body = json!({"certificate": cert.chain, "private_key": cert.key}).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = cdn_cert_deploy::http::sign(SECRET, body.as_bytes(), now);
    let mut apig = load_event("functiongraph-apig.json");
    apig["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
    apig["headers"]["authorization"] = json!(format!("Bearer {TOKEN}"));
    apig["headers"]["x-deploy-signature"] = json!(signature);
    let signed = api.push(&apig, &agency);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdn-cert-deploy"))
        .env_clear()
        .env("RUNTIME_API_ADDR", &api.addr)
        .env("RUNTIME_TIMEOUT", "20")
        .env("HUAWEICLOUD_CDN_ENDPOINT", sim.endpoint())
        .env("DEPLOY_WEBHOOK_SECRET", SECRET)
        .env("DEPLOY_WEBHOOK_TOKEN", TOKEN)
        .env("DEPLOY_REQUEST", r#"{"domains": ["www.example.com"]}"#)
        .env("DEPLOY_TRUST_ROOTS", test_trust_roots())
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut child = child;
    let answers = api.answers(2, Duration::from_secs(60)).await;
    child.start_kill().ok();
    let output = child.wait_with_output().await.unwrap();
    let logs = String::from_utf8_lossy(&output.stderr).to_string();
    let a = RuntimeApi::answer(&answers, &direct);
    assert!(a.ok && a.body["ok"] == true, "{:?}", a.body);
    let a = RuntimeApi::answer(&answers, &signed);
    assert_eq!(a.body["statusCode"], 200, "{:?}", a.body);
    assert!(logs.contains("domain outcome"), "the run logged: {logs}");
    let hex = signature.split("v1=").nth(1).unwrap();
    for (what, secret) in [
        ("signature", hex),
        ("token", TOKEN),
        ("webhook secret", SECRET),
        ("agency secret key", AGENCY_SK),
        ("agency token", AGENCY_TOKEN),
    ] {
        assert!(!logs.contains(secret), "the {what} reached the log");
    }
    for line in cert.key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "the private key reached the log");
    }
}
