//! Many accounts (SPEC section 11): a request names where its account's keys live
//! (`huawei_credentials`), the function reads them like a certificate source and signs every CDN
//! call with them; `pending_domains` says what a follow-up run should take.

mod common;

use std::time::Duration;

use cdn_cert_deploy::huawei::quota::Api;
use cdn_cert_deploy::sim::config::SimCredential;
use cdn_cert_deploy::sim::{SimDomainConfig, Simulator};
use common::aws::{AwsKeys, AwsStandIn};
use common::*;
use serde_json::{json, Value};

const ACCOUNT_A: (&str, &str) = ("ACCOUNTAKEY000000001", "account-a-secret-key");
const ACCOUNT_B: (&str, &str) = ("ACCOUNTBKEY000000002", "account-b-secret-key");

fn account(keys: (&str, &str)) -> SimCredential {
    SimCredential {
        ak: keys.0.into(),
        sk: keys.1.into(),
        security_token: None,
        denied: Vec::new(),
    }
}

fn keys_json(keys: (&str, &str)) -> String {
    json!({"ak": keys.0, "sk": keys.1, "domain_id": "0a1b2c"}).to_string()
}

async fn aws() -> AwsStandIn {
    AwsStandIn::start(
        AwsKeys {
            access_key: "ASIAACCOUNTSTEST0001".into(),
            secret_key: "accounts-aws-secret".into(),
            session_token: Some("accounts-aws-session-token".into()),
        },
        "eu-west-1",
    )
    .await
}

/// A handler whose own Huawei keys are the common test pair, with the AWS stand-in and the
/// simulator's CSMS.
fn handler_for(sim: &Simulator, aws: &AwsStandIn) -> cdn_cert_deploy::handler::Handler {
    let endpoint = sim.endpoint();
    let project = sim.project_id();
    let aws_env = aws.env();
    let mut env: Vec<(&str, &str)> = vec![
        ("HUAWEICLOUD_CSMS_ENDPOINT", &endpoint),
        ("HUAWEICLOUD_SDK_PROJECT_ID", &project),
    ];
    env.extend(aws_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    handler_env(sim, &env)
}

fn with_keys(domains: &[&str], cert: &TestCert, keys: Value) -> Value {
    let mut r = request(domains, cert);
    r["huawei_credentials"] = keys;
    r
}

fn calls_by(sim: &Simulator, ak: &str) -> u64 {
    sim.stats().cdn_calls_by_key.get(ak).copied().unwrap_or(0)
}

fn assert_no_key(out: &Value) {
    let text = out.to_string();
    for secret in [
        ACCOUNT_A.1,
        ACCOUNT_B.1,
        "accounts-aws-secret",
        "accounts-aws-session-token",
    ] {
        assert!(!text.contains(secret), "{secret} in the result");
    }
}

#[tokio::test(start_paused = true)]
async fn each_account_s_keys_sign_its_run_and_never_mix() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![
        domain("a.example.com", 100),
        domain("b.example.com", 100),
    ]);
    // The function's own pair may read CSMS; the CDN calls must carry the account's.
    cfg.credentials
        .extend([account(ACCOUNT_A), account(ACCOUNT_B)]);
    let sim = start(cfg).await;
    let aws = aws().await;
    aws.put_secret("accounts/a", &keys_json(ACCOUNT_A));
    sim.put_secret("account-b", &keys_json(ACCOUNT_B));
    let h = handler_for(&sim, &aws);

    let out = run(
        &h,
        with_keys(
            &["a.example.com"],
            &cert,
            json!({"type": "secretsmanager", "secret_id": "accounts/a"}),
        ),
        Duration::from_secs(60),
    )
    .await;
    let json = out.to_json();
    assert_eq!(json["domains"][0]["status"], "deployed", "{json:#}");
    assert!(calls_by(&sim, ACCOUNT_A.0) > 0);
    assert_eq!(calls_by(&sim, ACCOUNT_B.0), 0);
    assert_eq!(
        calls_by(&sim, AK),
        0,
        "the function's own key made no CDN call"
    );
    assert_no_key(&json);
    let a_calls = calls_by(&sim, ACCOUNT_A.0);

    // The second account, in the same process, from CSMS (read with the function's own keys).
    let out = run(
        &h,
        with_keys(
            &["b.example.com"],
            &cert,
            json!({"type": "huawei_csms", "secret_name": "account-b"}),
        ),
        Duration::from_secs(60),
    )
    .await;
    let json = out.to_json();
    assert_eq!(json["domains"][0]["status"], "deployed", "{json:#}");
    assert_eq!(
        calls_by(&sim, ACCOUNT_A.0),
        a_calls,
        "account A's key made no call of B's run"
    );
    assert!(calls_by(&sim, ACCOUNT_B.0) > 0);
    assert_eq!(calls_by(&sim, AK), 0);
    assert!(sim.stats().csms_calls >= 1);
    assert_no_key(&json);
}

#[tokio::test(start_paused = true)]
async fn keys_that_cannot_be_read_fail_the_run_with_no_cdn_call() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("a.example.com", 100)])).await;
    let aws = aws().await;
    aws.put_secret("accounts/denied", &keys_json(ACCOUNT_A));
    aws.deny("accounts/denied");
    aws.put_secret("accounts/not-keys", r#"{"username": "x"}"#);
    let h = handler_for(&sim, &aws);
    for (keys, reason) in [
        (
            json!({"type": "secretsmanager", "secret_id": "accounts/missing"}),
            "not_found",
        ),
        (
            json!({"type": "secretsmanager", "secret_id": "accounts/denied"}),
            "access_denied",
        ),
        (
            json!({"type": "secretsmanager", "secret_id": "accounts/not-keys"}),
            "invalid_content",
        ),
        (
            json!({"type": "huawei_csms", "secret_name": "nope"}),
            "not_found",
        ),
    ] {
        let out = run(
            &h,
            with_keys(&["a.example.com"], &cert, keys.clone()),
            Duration::from_secs(60),
        )
        .await;
        let json = out.to_json();
        assert_eq!(
            json["error"]["code"], "huawei_credentials",
            "{keys}: {json:#}"
        );
        assert_eq!(json["error"]["field"], "huawei_credentials");
        assert_eq!(json["error"]["reason"], reason, "{keys}: {json:#}");
        assert_eq!(json["domains"][0]["status"], "skipped");
        assert_eq!(out.exit_code, 2);
        assert_no_key(&json);
    }
    assert_eq!(
        sim.stats().cdn_calls_by_key.values().sum::<u64>(),
        0,
        "no CDN call"
    );
}

#[tokio::test(start_paused = true)]
async fn pending_domains_is_the_follow_up_set_and_a_second_run_finishes_it() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![
        domain("ok.example.com", 100),
        // Still configuring when the budget ends.
        domain("slow.example.com", 40_000),
        domain("throttled.example.com", 100),
        domain("outage.example.com", 100),
        SimDomainConfig {
            outcome: cdn_cert_deploy::sim::Outcome::ConfigureFailed,
            ..domain("broken.example.com", 100)
        },
    ]);
    cfg.faults = vec![
        fault(
            Api::UpdateFullConfig,
            "throttled.example.com",
            Some(8),
            error_status(429, "APIGW.0308"),
        ),
        // More than the first run's retries, fewer than both runs'.
        fault(
            Api::ShowDomainDetail,
            "outage.example.com",
            Some(12),
            error_status(503, ""),
        ),
    ];
    let sim = start(cfg).await;
    let h = handler(&sim);
    let names = [
        "ok.example.com",
        "slow.example.com",
        "throttled.example.com",
        "outage.example.com",
        "broken.example.com",
    ];
    let out = run(&h, request(&names, &cert), Duration::from_secs(20)).await;
    let json = out.to_json();
    let statuses: Vec<String> = json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {} {}", d["domain"], d["status"], d["error"]["code"]))
        .collect();
    eprintln!("{statuses:#?}");
    assert_eq!(json["domains"][0]["status"], "deployed");
    assert_eq!(json["domains"][1]["status"], "pending");
    assert_eq!(
        json["domains"][4]["status"], "failed",
        "configure_failed is not followed up"
    );
    let pending: Vec<String> = serde_json::from_value(json["pending_domains"].clone()).unwrap();
    assert_eq!(
        pending,
        vec![
            "slow.example.com",
            "throttled.example.com",
            "outage.example.com"
        ],
        "{statuses:#?}"
    );

    // The follow-up on exactly that set, once the faults have passed, finishes it.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let refs: Vec<&str> = pending.iter().map(String::as_str).collect();
    let out = run(&h, request(&refs, &cert), Duration::from_secs(60)).await;
    let json = out.to_json();
    assert!(out.result.ok, "{json:#}");
    assert_eq!(json["pending_domains"], json!([]));
    assert_eq!(
        json["domains"][0]["status"], "unchanged",
        "the slow domain went live meanwhile"
    );
}
