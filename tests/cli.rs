//! `cdn-cert-deploy invoke` as a user runs it: exit codes, stdout JSON, and logs that never
//! carry a secret.

mod common;

use std::process::Output;

use cdn_cert_deploy::sim::{Outcome, SimDomainConfig, Simulator};
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "session-token-aaaabbbbccccdddd";

async fn invoke(
    sim: &Simulator,
    event: &Value,
    extra_env: &[(&str, &str)],
    args: &[&str],
) -> (i32, Value, String) {
    let dir = std::env::temp_dir().join(format!("cdn-cli-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdn-cert-deploy"));
    cmd.arg("invoke")
        .arg("--event")
        .arg(&path)
        .arg("--endpoint")
        .arg(sim.endpoint())
        .args(args)
        .env_clear()
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .env("DEPLOY_TRUST_ROOTS", test_trust_roots());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().await.expect("runs");
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8(stdout).unwrap();
    let json: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {stdout}"));
    let all = format!("{stdout}\n{}", String::from_utf8_lossy(&stderr));
    (status.code().unwrap(), json, all)
}

#[tokio::test]
async fn all_deployed_exits_0_and_prints_the_result() {
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("www.example.com", 200),
        domain("img.example.com", 200),
    ]))
    .await;
    let (code, out, _) = invoke(
        &sim,
        &request(&["WWW.example.com.", "img.example.com"], &cert),
        &[],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["ok"], true);
    assert_eq!(out["summary"]["deployed"], 2);
    assert_eq!(out["domains"][0]["domain"], "www.example.com");
    assert_eq!(
        out["certificate"]["subject_names"],
        json!(["example.com", "*.example.com"])
    );
}

#[tokio::test]
async fn a_failed_domain_exits_1_and_the_others_still_deploy() {
    let cert = example_cert();
    let broken = SimDomainConfig {
        outcome: Outcome::ConfigureFailed,
        ..domain("broken.example.com", 200)
    };
    let sim = start(sim_config(vec![
        domain("a.example.com", 200),
        broken,
        domain("b.example.com", 200),
    ]))
    .await;
    let names = [
        "a.example.com",
        "missing.example.com",
        "broken.example.com",
        "b.example.com",
        "shop.example.net",
    ];
    let (code, out, all) = invoke(&sim, &request(&names, &cert), &[], &[]).await;
    assert_eq!(code, 1);
    // The run's metrics record (CloudWatch EMF) is one JSON line with the logs, not on stdout.
    let records: Vec<Value> = all
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{all}");
    let r = &records[0];
    assert_eq!(r["FunctionName"], "cdn-cert-deploy");
    let counts: Vec<u64> = ["Deployed", "Failed", "Skipped", "Pending", "ElapsedMs"]
        .iter()
        .map(|n| r[*n].as_u64().unwrap())
        .collect();
    assert_eq!(counts[..4], [2, 2, 1, 0], "{r}");
    assert!(counts[4] > 0 && r["ApiCalls"].as_u64().unwrap() >= 4, "{r}");
    let got: Vec<(&str, &str)> = out["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["domain"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a.example.com", "deployed"),
            ("missing.example.com", "failed"),
            ("broken.example.com", "failed"),
            ("b.example.com", "deployed"),
            ("shop.example.net", "skipped"),
        ]
    );
    assert_eq!(
        out["domains"][1]["error"]["code"], "CDN.0170",
        "the CDN's own code"
    );
    assert_eq!(out["domains"][1]["error"]["http_status"], 400);
    assert_eq!(out["domains"][2]["error"]["code"], "configure_failed");
    assert_eq!(out["domains"][4]["error"]["code"], "domain_not_covered");
    assert_eq!(out["domains"][4]["api_calls"], 0);
    assert_eq!(
        out["summary"],
        json!({"total": 5, "deployed": 2, "unchanged": 0, "pending": 0,
        "submitted": 0, "planned": 0, "failed": 2, "skipped": 1})
    );
}

#[tokio::test]
async fn invalid_certificates_exit_2_before_any_api_call() {
    let good = example_cert();
    let other = example_cert();
    let expired = cert_valid(&["example.com", "*.example.com"], -100, -10);
    let cases = [
        (
            "key_mismatch",
            request(
                &["www.example.com"],
                &TestCert {
                    chain: good.chain.clone(),
                    key: other.key.clone(),
                },
            ),
        ),
        (
            "certificate_expired",
            request(&["www.example.com"], &expired),
        ),
        (
            "invalid_certificate",
            json!({"domains": ["www.example.com"], "certificate": "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", "private_key": good.key}),
        ),
        (
            "invalid_certificate",
            json!({"domains": ["www.example.com"], "certificate": good.chain, "private_key": "not a key"}),
        ),
    ];
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    for (expected, event) in cases {
        let (code, out, _) = invoke(&sim, &event, &[], &[]).await;
        assert_eq!(code, 2, "{expected}: {out}");
        assert_eq!(out["ok"], false);
        assert_eq!(out["error"]["code"], expected, "{out}");
        assert_eq!(out["domains"][0]["status"], "skipped", "nothing is lost");
    }
    assert_eq!(sim.stats().signed_calls, 0, "no API call was made");
}

#[tokio::test]
async fn an_unknown_field_exits_2_naming_it() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    let mut event = request(&["www.example.com"], &cert);
    event["options"] = json!({"dryrun": true});
    let (code, out, _) = invoke(&sim, &event, &[], &[]).await;
    assert_eq!(code, 2);
    assert_eq!(out["error"]["field"], "options.dryrun");
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("options.dryrun"));
    assert_eq!(sim.stats().signed_calls, 0);
}

#[tokio::test]
async fn deploy_request_supplies_what_the_event_leaves_out() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    let defaults =
        json!({"domains": ["www.example.com"], "options": {"dry_run": true}}).to_string();
    let event = json!({"certificate": cert.chain, "private_key": cert.key});
    let (code, out, _) = invoke(&sim, &event, &[("DEPLOY_REQUEST", &defaults)], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["domains"][0]["status"], "planned");
}

#[tokio::test]
async fn a_stuck_domain_ends_pending_within_the_budget() {
    let cert = example_cert();
    let stuck = SimDomainConfig {
        outcome: Outcome::Stuck,
        ..domain("stuck.example.com", 100)
    };
    let sim = start(sim_config(vec![stuck])).await;
    let (code, out, _) = invoke(
        &sim,
        &request(&["stuck.example.com"], &cert),
        &[],
        &["--budget", "3"],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(out["domains"][0]["status"], "pending");
    assert_eq!(out["budget_ms"], 3000);
    // The process's own clock: a wall-clock bound from outside would flake on a busy machine
    // (the paused-time tests in tests/deploy.rs pin the deadline itself).
    assert!(out["elapsed_ms"].as_u64().unwrap() <= 3000);
}

#[tokio::test]
async fn no_secret_reaches_stdout_or_stderr_at_any_log_level() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 200)]);
    cfg.credentials[0].security_token = Some(TOKEN.into());
    let sim = start(cfg).await;
    // The base64 body of the key: any line of it leaking would be a leak.
    let key_lines: Vec<&str> = cert
        .key
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for format in ["json", "text"] {
        for (event, sk_override) in [
            (request(&["www.example.com"], &cert), None),
            (
                request(&["www.example.com"], &cert),
                Some("wrong-secret-zzzz"),
            ),
            (
                json!({"domains": ["www.example.com"], "certificate": cert.chain, "private_key": cert.key, "bogus": 1}),
                None,
            ),
        ] {
            let mut env = vec![
                ("RUST_LOG", "trace"),
                ("LOG_FORMAT", format),
                ("HUAWEICLOUD_SDK_SECURITY_TOKEN", TOKEN),
            ];
            if let Some(sk) = sk_override {
                env.push(("HUAWEICLOUD_SDK_SK", sk));
            }
            let (_, _, all) = invoke(&sim, &event, &env, &[]).await;
            assert!(
                all.contains("ShowDomainDetailByName") || all.contains("bogus"),
                "logs were written: {all}"
            );
            for secret in [SK, TOKEN, "wrong-secret-zzzz"] {
                assert!(!all.contains(secret), "secret leaked ({format}): {secret}");
            }
            for line in &key_lines {
                assert!(!all.contains(line), "private key leaked ({format})");
            }
        }
    }
    assert!(sim.domain("www.example.com").unwrap().writes >= 1);
}

/// A schedule's request names a Secrets Manager secret: the binary reads its AWS settings from the
/// process environment (as on Lambda), fetches the pair, deploys it, and no log line carries the
/// key, the AWS secret key or the session token.
#[tokio::test]
async fn a_secretsmanager_source_deploys_and_logs_no_secret() {
    use common::aws::{AwsKeys, AwsStandIn};
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let aws = AwsStandIn::start(
        AwsKeys {
            access_key: "ASIACLITESTKEY000001".into(),
            secret_key: "cli-aws-secret-key-value".into(),
            session_token: Some("cli-aws-session-token-value".into()),
        },
        "us-west-2",
    )
    .await;
    aws.put_secret(
        "certs/example.com",
        &json!({"fullchain.pem": cert.chain, "privkey.pem": cert.key}).to_string(),
    );
    let env = aws.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("RUST_LOG", "trace"));
    let event = json!({"domains": ["www.example.com"],
                       "certificate_source": {"type": "secretsmanager", "secret_id": "certs/example.com"}});
    let (code, out, all) = invoke(&sim, &event, &env, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["domains"][0]["status"], "deployed");
    assert_eq!(aws.calls().len(), 1);
    let key_body = cert.key.lines().nth(1).unwrap();
    for secret in [
        key_body,
        "cli-aws-secret-key-value",
        "cli-aws-session-token-value",
        SK,
    ] {
        assert!(
            !all.contains(secret),
            "`{secret}` leaked into stdout or logs"
        );
    }

    // The secret removed: exit 2, the reason named, no CDN call.
    let missing = json!({"domains": ["www.example.com"],
                         "certificate_source": {"type": "secretsmanager", "secret_id": "certs/gone"}});
    let before = sim.stats().signed_calls;
    let (code, out, _) = invoke(&sim, &missing, &env, &[]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["code"], "certificate_source");
    assert_eq!(out["error"]["reason"], "not_found");
    assert_eq!(sim.stats().signed_calls, before, "no CDN call");
}

/// Notifications at trace level: the webhook's token (in its URL), the bot secret, the DingTalk
/// signature, the AWS keys that sign the SNS call and the private key appear in no log line and
/// in no message.
#[tokio::test]
async fn notifications_leak_no_token_signature_or_key() {
    use common::aws::{AwsKeys, AwsStandIn};
    use common::webhook::WebhookReceiver;
    let cert = example_cert();
    let sim = start(sim_config(vec![SimDomainConfig {
        outcome: Outcome::ConfigureFailed,
        ..domain("broken.example.com", 100)
    }]))
    .await;
    let aws = AwsStandIn::start(
        AwsKeys {
            access_key: "ASIANOTIFYCLI0000001".into(),
            secret_key: "notify-aws-secret-key-value".into(),
            session_token: Some("notify-aws-session-token-value".into()),
        },
        "eu-north-1",
    )
    .await;
    let topic = aws.create_topic("alerts");
    let hook = WebhookReceiver::start(Some("SEC-bot-secret-value"), None).await;
    let url = format!(
        "{}/dingtalk/robot/send?access_token=ding-access-token-value",
        hook.url
    );
    let env = aws.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([
        ("RUST_LOG", "trace"),
        ("DEPLOY_NOTIFY_SNS_TOPIC_ARN", topic.as_str()),
        ("DEPLOY_NOTIFY_WEBHOOK_URL", url.as_str()),
        ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "dingtalk"),
        ("DEPLOY_NOTIFY_WEBHOOK_SECRET", "SEC-bot-secret-value"),
    ]);
    let (code, out, all) = invoke(&sim, &request(&["broken.example.com"], &cert), &env, &[]).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["notifications"][0]["ok"], true, "{out}");
    assert_eq!(out["notifications"][1]["ok"], true, "{out}");
    assert!(all.contains("notification sent"), "logs were written");
    let got = hook.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].accepted, "{}", got[0].why);
    let sign = got[0]
        .query
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.clone())
        .unwrap();
    let messages = format!("{}\n{:?}", got[0].body, aws.published());
    let key_body = cert.key.lines().nth(1).unwrap();
    for secret in [
        key_body,
        SK,
        "notify-aws-secret-key-value",
        "notify-aws-session-token-value",
        "ding-access-token-value",
        "SEC-bot-secret-value",
        sign.as_str(),
        "/robot/send",
    ] {
        assert!(
            !all.contains(secret),
            "`{secret}` leaked into stdout or logs"
        );
        assert!(
            !messages.contains(secret),
            "`{secret}` leaked into a message"
        );
    }
}

/// Upstream services quote the request they expected when a signature fails: AWS its canonical
/// request (with `x-amz-security-token`), and the simulator's gateway likewise (with
/// `X-Security-Token` and the `Authorization` header). At trace level, neither the token nor the
/// key id nor the signature reaches stdout or a log line; the service's advice does.
#[tokio::test]
async fn a_quoted_canonical_request_is_redacted_from_results_and_logs() {
    use cdn_cert_deploy::sim::config::SimCredential;
    use common::aws::{AwsKeys, AwsStandIn};
    let cert = example_cert();
    let aws = AwsStandIn::start(
        AwsKeys {
            access_key: "ASIAECHOTESTKEY00001".into(),
            secret_key: "echo-aws-secret-key-value".into(),
            session_token: Some("echo-aws-session-token-value".into()),
        },
        "eu-west-1",
    )
    .await;
    aws.put_secret(
        "certs/echo",
        &json!({"fullchain.pem": cert.chain, "privkey.pem": cert.key}).to_string(),
    );
    let env = aws.env();
    let mut env: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY")
        .collect();
    env.extend([
        ("AWS_SECRET_ACCESS_KEY", "a-wrong-aws-secret"),
        ("RUST_LOG", "trace"),
    ]);
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let event = json!({"domains": ["www.example.com"],
                       "certificate_source": {"type": "secretsmanager", "secret_id": "certs/echo"}});
    let (code, out, all) = invoke(&sim, &event, &env, &[]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["error"]["reason"], "auth_failed", "{out}");
    assert_eq!(aws.rejected_signatures(), 1);
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not match"), "{message}");
    for leak in [
        "echo-aws-session-token-value",
        "x-amz-security-token:",
        "ASIAECHOTESTKEY00001",
    ] {
        assert!(!all.contains(leak), "`{leak}` leaked: {all}");
    }

    // The CDN gateway refusing a wrong secret key with a temporary key's token.
    let mut config = sim_config(vec![domain("www.example.com", 100)]);
    config.credentials = vec![SimCredential {
        ak: AK.into(),
        sk: SK.into(),
        security_token: Some("huawei-security-token-value".into()),
        denied: Vec::new(),
    }];
    let sim = start(config).await;
    let env = [
        ("HUAWEICLOUD_SDK_SK", "a-wrong-huawei-secret"),
        (
            "HUAWEICLOUD_SDK_SECURITY_TOKEN",
            "huawei-security-token-value",
        ),
        ("RUST_LOG", "trace"),
    ];
    let (code, out, all) = invoke(&sim, &request(&["www.example.com"], &cert), &env, &[]).await;
    assert_eq!(code, 1, "{out}");
    let error = &out["domains"][0]["error"];
    assert_eq!(error["code"], "APIGW.0301", "{out}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("verify aksk signature fail"),
        "{out}"
    );
    assert!(sim.stats().auth_failures >= 1);
    for leak in [
        "huawei-security-token-value",
        "a-wrong-huawei-secret",
        SK,
        "Signature=",
        AK,
    ] {
        assert!(!all.contains(leak), "`{leak}` leaked: {all}");
    }
}

/// An account's keys read from Secrets Manager (`huawei_credentials`) sign the CDN calls, and at
/// trace level neither they nor the store's keys reach stdout or a log line.
#[tokio::test]
async fn account_keys_from_a_secret_never_reach_a_log_line() {
    use cdn_cert_deploy::sim::config::SimCredential;
    use common::aws::{AwsKeys, AwsStandIn};
    let cert = example_cert();
    let mut config = sim_config(vec![domain("www.example.com", 100)]);
    config.credentials = vec![SimCredential {
        ak: "ACCOUNTCLIKEY0000001".into(),
        sk: "account-cli-secret-key".into(),
        security_token: Some("account-cli-security-token".into()),
        denied: Vec::new(),
    }];
    let sim = start(config).await;
    let aws = AwsStandIn::start(
        AwsKeys {
            access_key: "ASIAACCOUNTCLI000001".into(),
            secret_key: "account-cli-aws-secret".into(),
            session_token: None,
        },
        "eu-west-1",
    )
    .await;
    aws.put_secret(
        "cdn-accounts/a",
        &json!({"ak": "ACCOUNTCLIKEY0000001", "sk": "account-cli-secret-key",
                "security_token": "account-cli-security-token"})
        .to_string(),
    );
    let env = aws.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("RUST_LOG", "trace"));
    let mut event = request(&["www.example.com"], &cert);
    event["huawei_credentials"] = json!({"type": "secretsmanager", "secret_id": "cdn-accounts/a"});
    let (code, out, all) = invoke(&sim, &event, &env, &[]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["domains"][0]["status"], "deployed");
    assert_eq!(
        sim.stats().cdn_calls_by_key.keys().collect::<Vec<_>>(),
        ["ACCOUNTCLIKEY0000001"]
    );
    for secret in [
        "account-cli-secret-key",
        "account-cli-security-token",
        "account-cli-aws-secret",
        "ACCOUNTCLIKEY0000001",
    ] {
        assert!(!all.contains(secret), "`{secret}` leaked: {all}");
    }
}

/// `invoke` at RUST_LOG=trace on HTTP events (an API Gateway v2 event with an
/// `X-Deploy-Signature`, a Function URL event with a bearer token), each carrying an inline key:
/// neither stdout nor stderr holds the key, the signature or the token.
#[tokio::test]
async fn a_trace_level_invoke_of_http_events_logs_no_key_signature_or_token() {
    use base64::Engine as _;
    const SECRET: &str = "invoke-webhook-signing-secret";
    const BEARER: &str = "invoke-webhook-bearer-token";
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    let body = json!({"certificate": cert.chain, "private_key": cert.key}).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = cdn_cert_deploy::http::sign(SECRET, body.as_bytes(), now);
    let mut signed = load_event("apigw-v2.json");
    signed["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
    signed["isBase64Encoded"] = json!(true);
    signed["headers"] =
        json!({"content-type": "application/json", "x-deploy-signature": signature});
    let mut bearer = load_event("function-url.json");
    bearer["body"] = json!(body);
    bearer["isBase64Encoded"] = json!(false);
    bearer["headers"] = json!({"content-type": "application/json",
        "authorization": format!("Bearer {BEARER}")});
    let hex = signature.split("v1=").nth(1).unwrap().to_string();
    for event in [signed, bearer] {
        let (_, out, all) = invoke(
            &sim,
            &event,
            &[
                ("RUST_LOG", "trace"),
                ("DEPLOY_WEBHOOK_SECRET", SECRET),
                ("DEPLOY_WEBHOOK_TOKEN", BEARER),
                ("DEPLOY_REQUEST", r#"{"domains": ["www.example.com"]}"#),
            ],
            &[],
        )
        .await;
        assert_eq!(out["statusCode"], 200, "{out}");
        assert!(all.contains("domain outcome"), "the run logged: {all}");
        for (what, secret) in [
            ("signature", hex.as_str()),
            ("token", BEARER),
            ("secret", SECRET),
        ] {
            assert!(!all.contains(secret), "the {what} reached the output");
        }
        for line in cert.key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!all.contains(line), "the private key reached the output");
        }
    }
}

/// `doctor --format text`: the checks, then a domain table, then the forecast; nothing written.
#[tokio::test]
async fn doctor_prints_a_report_a_person_reads() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    let dir = std::env::temp_dir().join(format!("cdn-cli-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("event.json");
    let event = request(&["www.example.com", "gone.example.com"], &cert);
    std::fs::write(&path, event.to_string()).unwrap();
    let run = |format: &'static str| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cdn-cert-deploy"));
        cmd.args(["doctor", "--format", format, "--event"])
            .arg(&path)
            .arg("--endpoint")
            .arg(sim.endpoint())
            .env_clear()
            .env("HUAWEICLOUD_SDK_AK", AK)
            .env("HUAWEICLOUD_SDK_SK", SK)
            .env("DEPLOY_TRUST_ROOTS", test_trust_roots())
            .env("DEPLOY_DNS_SERVER", sim.dns_server())
            .env("RUST_LOG", "off");
        cmd.output()
    };
    let text = run("text").await.unwrap();
    let json = run("json").await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let out = String::from_utf8(text.stdout).unwrap();
    assert_eq!(
        text.status.code(),
        Some(1),
        "gone.example.com is missing: {out}"
    );
    assert!(
        out.starts_with("cdn-cert-deploy doctor: some checks failed"),
        "{out}"
    );
    assert!(out.contains("ok   credentials"), "{out}");
    assert!(out.contains("FAIL domains"), "{out}");
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("domain "))
        .collect();
    assert!(table[1].starts_with("www.example.com"), "{out}");
    assert!(
        table[2].starts_with("gone.example.com") && table[2].ends_with("missing"),
        "{out}"
    );
    assert!(out.contains("\nforecast: about"), "{out}");
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["domains"][1]["problems"], json!(["missing"]));
    let stats = sim.stats();
    assert!(stats
        .apis
        .get("UpdateDomainFullConfig")
        .is_none_or(|a| a.calls == 0));
}
