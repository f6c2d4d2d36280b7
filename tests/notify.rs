//! Unattended runs tell a person: the digest goes to SNS (a stand-in that checks SigV4 for
//! `sns` and answers the real XML), SMN (served by the simulator, signature checked like the
//! CDN's) and chat webhooks (a receiver that checks each tool's body and signature), when
//! `DEPLOY_NOTIFY_ON` says so; a channel that fails changes nothing else.

mod common;

use std::time::Duration;

use cdn_cert_deploy::handler::{Handler, Output, EXIT_NOT_OK};
use cdn_cert_deploy::sim::{Outcome, SimDomainConfig, Simulator};
use common::aws::{AwsKeys, AwsStandIn};
use common::webhook::WebhookReceiver;
use common::*;
use serde_json::{json, Value};

const REGION: &str = "eu-west-1";
const HOOK_SECRET: &str = "SEC-hook-secret-0123456789";

async fn sns_stand_in() -> AwsStandIn {
    AwsStandIn::start(
        AwsKeys {
            access_key: "ASIANOTIFYSTANDIN001".into(),
            secret_key: "aws-secret/for+the+notify+stand-in".into(),
            session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE-notify-token".into()),
        },
        REGION,
    )
    .await
}

/// `www` deploys, `broken` ends `configure_failed`.
async fn sim() -> Simulator {
    start(sim_config(vec![
        domain("www.example.com", 100),
        SimDomainConfig {
            outcome: Outcome::ConfigureFailed,
            ..domain("broken.example.com", 100)
        },
    ]))
    .await
}

/// `common::handler_env` with the SNS stand-in's AWS settings too.
fn handler_env(sim: &Simulator, aws: Option<&AwsStandIn>, extra: &[(&str, &str)]) -> Handler {
    let aws_env = aws.map(|a| a.env()).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = aws_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    common::handler_env(sim, &all)
}

fn smn_urn(sim: &Simulator) -> String {
    format!("urn:smn:cn-north-4:{}:cert-alerts", sim.project_id())
}

async fn deploy(h: &Handler, domains: &[&str], cert: &TestCert) -> Output {
    run(h, request(domains, cert), Duration::from_secs(30)).await
}

#[tokio::test(start_paused = true)]
async fn a_failed_domain_is_told_once_on_every_channel_and_an_ok_run_is_not() {
    let sim = sim().await;
    let aws = sns_stand_in().await;
    let topic = aws.create_topic("cert-alerts");
    let hook = WebhookReceiver::start(Some(HOOK_SECRET), None).await;
    let hook_url = format!("{}/dingtalk/robot/send?access_token=ding-token-1", hook.url);
    let urn = smn_urn(&sim);
    let endpoint = sim.endpoint();
    let h = handler_env(
        &sim,
        Some(&aws),
        &[
            ("DEPLOY_NOTIFY_SNS_TOPIC_ARN", &topic),
            ("DEPLOY_NOTIFY_SMN_TOPIC_URN", &urn),
            ("HUAWEICLOUD_SMN_ENDPOINT", &endpoint),
            ("DEPLOY_NOTIFY_WEBHOOK_URL", &hook_url),
            ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "dingtalk"),
            ("DEPLOY_NOTIFY_WEBHOOK_SECRET", HOOK_SECRET),
        ],
    );
    let cert = example_cert();

    // All ok: nothing is sent, and the result lists no channel.
    let out = deploy(&h, &["www.example.com"], &cert).await;
    assert!(out.result.ok, "{:?}", out.result);
    assert!(out.result.notifications.is_empty());
    assert!(out.to_json().get("notifications").is_none());
    assert!(aws.published().is_empty());
    assert!(sim.smn_messages().is_empty());
    assert!(hook.got().is_empty());

    // A failed domain: one message on each channel, naming it and why.
    let out = deploy(&h, &["www.example.com", "broken.example.com"], &cert).await;
    assert_eq!(out.exit_code, EXIT_NOT_OK);
    let told: Vec<(String, bool)> = out
        .result
        .notifications
        .iter()
        .map(|n| (n.channel.clone(), n.ok))
        .collect();
    assert_eq!(
        told,
        vec![
            ("sns".to_string(), true),
            ("smn".to_string(), true),
            ("webhook".to_string(), true)
        ],
        "{:?}",
        out.result.notifications
    );
    assert!(out.result.notifications[0].message_id.is_some());
    assert!(out.result.notifications[1].message_id.is_some());

    let published = aws.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].topic_arn, topic);
    assert_eq!(
        published[0].subject.as_deref(),
        Some("cdn-cert-deploy: 1 failed of 2 domains")
    );
    let line = published[0]
        .message
        .lines()
        .find(|l| l.starts_with("FAILED broken.example.com: configure_failed"))
        .unwrap_or_else(|| panic!("{}", published[0].message));
    assert!(line.contains("(request "), "{line}");
    assert_eq!(aws.rejected_signatures(), 0);

    let smn = sim.smn_messages();
    assert_eq!(smn.len(), 1);
    assert_eq!(smn[0]["topic_urn"], urn);
    assert_eq!(smn[0]["subject"], "cdn-cert-deploy: 1 failed of 2 domains");
    assert!(smn[0]["message"]
        .as_str()
        .unwrap()
        .contains("FAILED broken.example.com: configure_failed"));

    let got = hook.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].accepted, "{}", got[0].why);
    assert!(got[0]
        .text()
        .contains("- **FAILED** broken.example.com: configure_failed"));
    assert!(!got[0].text().contains("www.example.com"));
}

#[tokio::test(start_paused = true)]
async fn every_webhook_format_is_taken_as_its_tool_documents_it() {
    let sim = sim().await;
    let hook = WebhookReceiver::start(Some(HOOK_SECRET), None).await;
    let cert = example_cert();
    let paths = [
        ("slack", "/slack/services/T000/B000/XXXX"),
        ("feishu", "/feishu/open-apis/bot/v2/hook/abc"),
        ("dingtalk", "/dingtalk/robot/send?access_token=t1"),
        ("wecom", "/wecom/cgi-bin/webhook/send?key=k1"),
        ("json", "/json/hooks/deploys"),
    ];
    for (format, path) in paths {
        let url = format!("{}{path}", hook.url);
        let h = handler_env(
            &sim,
            None,
            &[
                ("DEPLOY_NOTIFY_WEBHOOK_URL", &url),
                ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", format),
                ("DEPLOY_NOTIFY_WEBHOOK_SECRET", HOOK_SECRET),
            ],
        );
        let out = deploy(&h, &["broken.example.com"], &cert).await;
        let n = &out.result.notifications;
        assert_eq!(n.len(), 1);
        assert!(n[0].ok, "{format}: {n:?}");
        assert_eq!(n[0].format.as_deref(), Some(format));
    }
    let got = hook.got();
    let formats: Vec<&str> = got.iter().map(|g| g.format.as_str()).collect();
    assert_eq!(formats, ["slack", "feishu", "dingtalk", "wecom", "json"]);
    for g in &got {
        assert!(g.accepted, "{}: {}", g.format, g.why);
        assert!(
            g.text().contains("broken.example.com: configure_failed"),
            "{}: {}",
            g.format,
            g.text()
        );
    }
    // Signed where the tool takes a signature.
    assert!(got[1].body["sign"].is_string());
    assert!(got[2].query.iter().any(|(k, _)| k == "sign"));
    // The json format is the whole result.
    assert_eq!(got[4].body["summary"]["failed"], 1);
    assert_eq!(got[4].body["domains"][0]["domain"], "broken.example.com");
}

#[tokio::test(start_paused = true)]
async fn a_wrong_bot_secret_is_the_tools_refusal_in_the_result() {
    let sim = sim().await;
    let hook = WebhookReceiver::start(Some(HOOK_SECRET), None).await;
    let url = format!("{}/feishu/open-apis/bot/v2/hook/abc", hook.url);
    let h = handler_env(
        &sim,
        None,
        &[
            ("DEPLOY_NOTIFY_WEBHOOK_URL", &url),
            ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "feishu"),
            ("DEPLOY_NOTIFY_WEBHOOK_SECRET", "SEC-wrong"),
        ],
    );
    let out = deploy(&h, &["broken.example.com"], &example_cert()).await;
    let n = &out.result.notifications[0];
    assert!(!n.ok);
    assert_eq!(n.attempts, 1, "a refusal is not retried");
    assert_eq!(n.error.as_ref().unwrap().code, "19021");
}

#[tokio::test(start_paused = true)]
async fn changes_and_always_are_told_as_documented() {
    let sim = sim().await;
    let hook = WebhookReceiver::start(None, None).await;
    let url = format!("{}/json/x", hook.url);
    let with = |on: &str| {
        handler_env(
            &sim,
            None,
            &[
                ("DEPLOY_NOTIFY_WEBHOOK_URL", &url),
                ("DEPLOY_NOTIFY_ON", on),
            ],
        )
    };
    let cert = example_cert();
    // changes: a deployed domain is told; the same run again (all unchanged) is not.
    let out = deploy(&with("changes"), &["www.example.com"], &cert).await;
    assert_eq!(out.result.summary.deployed, 1);
    assert_eq!(hook.got().len(), 1);
    let out = deploy(&with("changes"), &["www.example.com"], &cert).await;
    assert_eq!(out.result.summary.unchanged, 1);
    assert!(out.result.notifications.is_empty());
    assert_eq!(hook.got().len(), 1);
    // problems: an unchanged run is not told.
    deploy(&with("problems"), &["www.example.com"], &cert).await;
    assert_eq!(hook.got().len(), 1);
    // always: even an unchanged run.
    let out = deploy(&with("always"), &["www.example.com"], &cert).await;
    assert!(out.result.notifications[0].ok);
    assert_eq!(hook.got().len(), 2);
    assert_eq!(
        hook.got()[1].body["digest"]["subject"],
        "cdn-cert-deploy: all 1 live"
    );
    // A dry run is told only with always, even when a domain would fail.
    let mut dry = request(&["broken.example.com", "www.example.com"], &cert);
    dry["options"] = json!({"dry_run": true});
    let out = run(&with("problems"), dry.clone(), Duration::from_secs(30)).await;
    assert!(out.result.notifications.is_empty());
    assert_eq!(hook.got().len(), 2);
    let out = run(&with("always"), dry, Duration::from_secs(30)).await;
    assert_eq!(out.result.notifications.len(), 1);
    assert_eq!(hook.got().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_expiring_domain_alone_is_a_problem() {
    // The new certificate is valid, but expires inside warn_days (21 by default): the run is ok
    // and still tells.
    let short = cert_valid(&["example.com", "*.example.com"], -1, 10);
    let mut live = domain("www.example.com", 100);
    live.https = Some(serving(&short, "on", "TLSv1.2,TLSv1.3", "on"));
    let sim = start(sim_config(vec![live])).await;
    let hook = WebhookReceiver::start(None, None).await;
    let url = format!("{}/slack/x", hook.url);
    let h = handler_env(
        &sim,
        None,
        &[
            ("DEPLOY_NOTIFY_WEBHOOK_URL", &url),
            ("DEPLOY_NOTIFY_WEBHOOK_FORMAT", "slack"),
        ],
    );
    let out = deploy(&h, &["www.example.com"], &short).await;
    assert!(out.result.ok);
    assert_eq!(out.result.summary.unchanged, 1);
    assert!(out.result.domains[0].expiring);
    let got = hook.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].accepted, "{}", got[0].why);
    let text = got[0].text();
    assert!(
        text.starts_with("cdn-cert-deploy: 1 expiring of 1 domains"),
        "{text}"
    );
    assert!(text.contains("EXPIRING www.example.com: serves a certificate that expires"));
}

#[tokio::test(start_paused = true)]
async fn a_channel_answering_500_changes_nothing_and_the_run_ends_inside_its_budget() {
    let cert = example_cert();
    let both = ["www.example.com", "broken.example.com"];
    let quiet = sim().await;
    let baseline = deploy(&handler_env(&quiet, None, &[]), &both, &cert).await;

    let noisy = sim().await;
    let down = WebhookReceiver::start(None, Some(500)).await;
    let url = format!("{}/slack/x", down.url);
    let h = handler_env(&noisy, None, &[("DEPLOY_NOTIFY_WEBHOOK_URL", &url)]);
    let budget = Duration::from_secs(8);
    let out = run(&h, request(&both, &cert), budget).await;

    assert_eq!(statuses(&out), statuses(&baseline));
    assert_eq!(out.exit_code, baseline.exit_code);
    assert_eq!(out.result.ok, baseline.result.ok);
    let n = &out.result.notifications;
    assert_eq!(n.len(), 1);
    assert!(!n[0].ok);
    assert_eq!(n[0].attempts, 3, "retried, a bounded number of times");
    assert_eq!(down.got().len(), 3);
    let error = n[0].error.as_ref().unwrap();
    assert_eq!(
        (error.code.as_str(), error.http_status),
        ("upstream_unavailable", Some(500))
    );
    assert!(out.result.elapsed_ms <= out.result.budget_ms);
    let json = out.to_json();
    assert_eq!(json["notifications"][0]["channel"], "webhook");
    assert_eq!(json["notifications"][0]["ok"], false);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_channel_is_data_in_the_result() {
    let sim = sim().await;
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let aws = sns_stand_in().await;
    let topic = aws.create_topic("cert-alerts");
    let url = format!("http://127.0.0.1:{closed}/json/x");
    let h = handler_env(
        &sim,
        Some(&aws),
        &[
            ("DEPLOY_NOTIFY_WEBHOOK_URL", &url),
            // A topic the account does not have: SNS answers NotFound, not retried.
            (
                "DEPLOY_NOTIFY_SNS_TOPIC_ARN",
                &topic.replace("cert-alerts", "missing"),
            ),
        ],
    );
    let out = deploy(&h, &["broken.example.com"], &example_cert()).await;
    let n = &out.result.notifications;
    assert_eq!(n.len(), 2);
    assert_eq!(n[0].channel, "sns");
    assert_eq!(n[0].error.as_ref().unwrap().code, "NotFound");
    assert_eq!(n[0].attempts, 1);
    assert_eq!(n[1].channel, "webhook");
    let e = n[1].error.as_ref().unwrap();
    assert_eq!(e.code, "upstream_unavailable");
    assert!(e.message.contains("could not connect"), "{}", e.message);
    assert!(!e.message.contains("/json/x"), "the URL is never echoed");
    assert_eq!(out.exit_code, EXIT_NOT_OK);
    let v: Value = out.to_json();
    assert_eq!(v["domains"][0]["status"], "failed");
}
