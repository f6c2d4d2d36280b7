//! `doctor` against the simulator (SPEC section 12): read-only whatever it finds, every problem
//! named in its check or its domain's entry, with advice.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cdn_cert_deploy::clock::FixedClock;
use cdn_cert_deploy::sim::{SimDomainConfig, Simulator};
use common::*;
use serde_json::{json, Value};

const WRITES: [&str; 2] = ["UpdateDomainFullConfig", "UpdateDomainMultiCertificates"];

fn writes(sim: &Simulator) -> u64 {
    let stats = sim.stats();
    WRITES
        .iter()
        .map(|w| stats.apis.get(*w).map_or(0, |a| a.calls))
        .sum()
}

fn doctor(mut request: Value) -> Value {
    request["action"] = json!("doctor");
    request
}

async fn report(h: &cdn_cert_deploy::handler::Handler, request: Value) -> (Value, i32) {
    let out = run(h, doctor(request), Duration::from_secs(60)).await;
    (out.to_json(), out.exit_code)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn entry<'a>(report: &'a Value, domain: &str) -> &'a Value {
    report["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("no entry for {domain} in {report:#}"))
}

fn problems(report: &Value, domain: &str) -> Vec<String> {
    entry(report, domain)["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_problem_is_named_and_nothing_is_written() {
    let cert = example_cert();
    let old = cert_valid(&["example.com", "*.example.com"], -80, 10);
    let serving = |name: &str, c: &TestCert| SimDomainConfig {
        https: Some(json!({"https_status": "on", "certificate_value": c.chain,
                           "private_key": c.key, "certificate_name": "old",
                           "http2_status": "on"})),
        ..SimDomainConfig::new(name)
    };
    let sim = start(sim_config(vec![
        serving("www.example.com", &old),
        serving("same.example.com", &cert),
        SimDomainConfig {
            status: "offline".into(),
            ..SimDomainConfig::new("off.example.com")
        },
        SimDomainConfig {
            status: "configure_failed".into(),
            ..SimDomainConfig::new("failed.example.com")
        },
        SimDomainConfig {
            https: Some(json!({"https_status": "on", "certificate_name": "gm-sm2",
                               "certificate_source": 0, "certificate_type": "server_sm",
                               "certificate_value": include_str!("fixtures/sm2-sign.pem"),
                               "enc_certificate_value": include_str!("fixtures/sm2-enc.pem"),
                               "http2_status": "off"})),
            ..SimDomainConfig::new("sm.example.com")
        },
        SimDomainConfig::new("shop.example.net"),
    ]))
    .await;
    let h = handler(&sim);
    let domains = [
        "www.example.com",
        "same.example.com",
        "off.example.com",
        "failed.example.com",
        "sm.example.com",
        "shop.example.net",
        "gone.example.com",
    ];
    let (r, code) = report(&h, request(&domains, &cert)).await;
    assert_eq!(writes(&sim), 0, "a doctor run writes nothing");
    assert_eq!((r["ok"].as_bool(), code), (Some(false), 1), "{r:#}");
    assert_eq!(check(&r, "credentials")["status"], "ok");
    assert_eq!(check(&r, "clock")["status"], "ok");
    assert_eq!(check(&r, "certificate")["status"], "ok");
    assert_eq!(check(&r, "permission:write")["status"], "warn");
    assert_eq!(check(&r, "domains")["status"], "fail");

    let www = entry(&r, "www.example.com");
    assert_eq!(www["exists"], true);
    assert_eq!(www["status"], "online");
    assert_eq!(www["https"], true);
    assert_eq!(www["covered"], true);
    assert_eq!(www["certificate"]["issuer"], "cdn-cert-deploy Test CA");
    assert!(www["certificate"]["days_left"].as_i64().unwrap() <= 10);
    assert_eq!(problems(&r, "www.example.com"), ["expiring"]);
    assert_eq!(www["write"], "alone");
    assert_eq!(entry(&r, "same.example.com")["write"], "none");
    assert!(entry(&r, "same.example.com")["why"]
        .as_str()
        .unwrap()
        .contains("already serves"));
    assert_eq!(problems(&r, "off.example.com"), ["offline", "https_off"]);
    assert_eq!(
        problems(&r, "failed.example.com"),
        ["configure_failed", "https_off"]
    );
    assert_eq!(problems(&r, "sm.example.com"), ["sm_certificate_in_use"]);
    assert_eq!(
        problems(&r, "shop.example.net"),
        ["not_covered", "https_off"]
    );
    assert_eq!(problems(&r, "gone.example.com"), ["missing"]);
    assert_eq!(entry(&r, "gone.example.com")["exists"], false);
    let f = &r["forecast"];
    assert_eq!(f["budget_seconds"], 60);
    // www (expiring) and failed (configure_failed, written again) would be read, written alone
    // (too few to batch) and, in so small a run, each read back to prove its write.
    assert_eq!(f["calls"]["configs_read"], 4, "{f}");
    assert_eq!(f["calls"]["write"], 2, "{f}");
    // Polled until the assumed minute of settling is over: more than this budget holds.
    assert_eq!(f["settle_seconds"], 60);
    assert_eq!(f["fits_budget"], false, "{f}");
    assert!(
        f["advice"].as_str().unwrap().contains("pending_domains"),
        "{f}"
    );
}

#[tokio::test]
async fn without_a_certificate_the_domains_are_judged_alone() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let h = handler(&sim);
    let (r, code) = report(&h, json!({"domains": ["www.example.com"]})).await;
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(check(&r, "certificate")["status"], "ok");
    assert_eq!(entry(&r, "www.example.com")["covered"], Value::Null);
    let (all, _) = report(&h, json!({"all": true})).await;
    assert_eq!(all["domains"].as_array().unwrap().len(), 1, "{all:#}");
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn a_wrong_key_and_a_locked_key_are_named_with_their_advice() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let wrong = handler_with(&sim, credentials("not-the-secret-key"));
    let (r, code) = report(&wrong, json!({"domains": ["www.example.com"]})).await;
    assert_eq!(code, 1);
    let c = check(&r, "credentials");
    assert_eq!(c["status"], "fail", "{r:#}");
    assert!(c["message"].as_str().unwrap().contains("APIGW.0301"), "{c}");
    assert!(c["advice"].as_str().unwrap().contains("secret key"), "{c}");
    // Five refused signatures lock the key for five minutes: even the right secret is refused.
    for _ in 0..5 {
        report(&wrong, json!({"domains": ["www.example.com"]})).await;
    }
    let right = handler(&sim);
    let (r, _) = report(&right, json!({"domains": ["www.example.com"]})).await;
    let c = check(&r, "credentials");
    assert!(c["advice"].as_str().unwrap().contains("locked"), "{c}");
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn a_clock_20_minutes_off_is_named_before_the_gateway_refuses() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let mut h = handler(&sim);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    h.clock = Arc::new(FixedClock(now - 1200));
    let (r, code) = report(&h, json!({"domains": ["www.example.com"]})).await;
    assert_eq!(code, 1);
    let clock = check(&r, "clock");
    assert_eq!(clock["status"], "fail", "{r:#}");
    assert!(
        clock["message"]
            .as_str()
            .unwrap()
            .contains("behind the CDN's"),
        "{clock}"
    );
    assert!(clock["advice"].as_str().unwrap().contains("15 minutes"));
    assert_eq!(check(&r, "credentials")["status"], "fail");
}

#[tokio::test]
async fn a_refused_full_read_names_the_api_and_the_action_to_grant() {
    // The key's IAM policy leaves out ShowDomainFullConfig: signed right, refused 403.
    let mut cfg = sim_config(vec![
        domain("www.example.com", 100),
        domain("img.example.com", 100),
    ]);
    cfg.credentials[0].denied = vec!["ShowDomainFullConfig".into()];
    let sim = start(cfg).await;
    let h = handler(&sim);
    let (r, code) = report(
        &h,
        json!({"domains": ["www.example.com", "img.example.com"]}),
    )
    .await;
    assert_eq!(code, 1);
    let c = check(&r, "permission:ShowDomainFullConfig");
    assert_eq!(c["status"], "fail", "{r:#}");
    assert!(c["message"].as_str().unwrap().contains("403"), "{c}");
    assert!(
        c["advice"]
            .as_str()
            .unwrap()
            .contains("cdn:configuration:queryDomains"),
        "{c}"
    );
    assert_eq!(check(&r, "permission:ListDomains")["status"], "ok");
    assert_eq!(check(&r, "credentials")["status"], "ok", "{r:#}");

    // What the doctor foretold: the deployment with that key writes nothing and reports every
    // domain, each with the refusal.
    let out = run(
        &h,
        request(&["www.example.com", "img.example.com"], &example_cert()),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(writes(&sim), 0);
    let result = out.to_json();
    let domains = result["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 2, "{result:#}");
    // The refused read fails its domain with the CDN's answer; every call stops there, and the
    // domains not yet read are skipped for it.
    let refused = |d: &&Value| d["status"] == "failed" && d["error"]["http_status"] == 403;
    assert!(domains.iter().any(|d| refused(&d)), "{result:#}");
    for d in domains.iter().filter(|d| !refused(d)) {
        assert_eq!(
            (&d["status"], &d["error"]["code"]),
            (&json!("skipped"), &json!("auth_failed")),
            "{d}"
        );
    }
}

#[tokio::test]
async fn an_http_caller_may_not_ask_for_a_doctor_by_default() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let body = json!({"action": "doctor", "domains": ["www.example.com"]}).to_string();
    let token = "doctor-test-token";
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {"authorization": format!("Bearer {token}"), "content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "t"},
                           "accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
                           "requestId": "r", "routeKey": "$default", "stage": "$default",
                           "time": "07/Dec/2026:00:00:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    });
    let app = |allow: Option<&str>| {
        let mut env = vec![("DEPLOY_WEBHOOK_TOKEN", token)];
        if let Some(a) = allow {
            env.push(("DEPLOY_HTTP_ALLOW", a));
        }
        cdn_cert_deploy::app::App {
            handler: Ok(handler_env(&sim, &env)),
            platform: cdn_cert_deploy::event::Platform::Lambda,
            function_name: "cdn-cert-deploy".into(),
        }
    };
    let ctx = || cdn_cert_deploy::app::Context {
        platform_budget: Duration::from_secs(60),
        received: tokio::time::Instant::now(),
        credentials: None,
    };
    let refused = app(None).invoke(event.clone(), ctx()).await;
    assert_eq!(refused.body["statusCode"], 403, "{}", refused.body);
    let calls_before = sim.stats().signed_calls;
    assert_eq!(calls_before, 0, "no call for a refused doctor");
    let allowed = app(Some("request")).invoke(event, ctx()).await;
    assert_eq!(allowed.body["statusCode"], 200, "{}", allowed.body);
    let report: Value = serde_json::from_str(allowed.body["body"].as_str().unwrap()).unwrap();
    assert!(report["checks"].is_array(), "{report:#}");
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn a_schedule_can_run_the_doctor_from_deploy_request() {
    let sim = start(sim_config(vec![domain("www.example.com", 100)])).await;
    let configured = r#"{"action": "doctor", "domains": ["www.example.com"]}"#;
    let h = handler_env(&sim, &[("DEPLOY_REQUEST", configured)]);
    // A scheduled event without input: the request is DEPLOY_REQUEST's.
    let out = run(&h, json!({}), Duration::from_secs(60)).await;
    let r = out.to_json();
    assert_eq!(out.exit_code, 0, "{r:#}");
    assert_eq!(entry(&r, "www.example.com")["exists"], true);
    assert_eq!(writes(&sim), 0);
}

/// A weekly doctor is the expiry monitor: a domain whose certificate expires soon is told once
/// (DEPLOY_NOTIFY_ON=problems, the default); an account with nothing wrong is not told.
#[tokio::test]
async fn a_scheduled_doctor_tells_of_an_expiring_domain_and_is_quiet_otherwise() {
    let soon = cert_valid(&["example.com", "*.example.com"], -80, 9);
    let later = cert_valid(&["example.com", "*.example.com"], -10, 80);
    let serving = |name: &str, c: &TestCert| SimDomainConfig {
        https: Some(json!({"https_status": "on", "certificate_value": c.chain,
                           "private_key": c.key, "certificate_name": "live",
                           "http2_status": "on"})),
        ..SimDomainConfig::new(name)
    };
    let sim = start(sim_config(vec![
        serving("www.example.com", &later),
        serving("img.example.com", &soon),
    ]))
    .await;
    let urn = format!("urn:smn:cn-north-4:{}:cert-alerts", sim.project_id());
    let (endpoint, project) = (sim.endpoint(), sim.project_id());
    let env = [
        ("DEPLOY_NOTIFY_SMN_TOPIC_URN", urn.as_str()),
        ("HUAWEICLOUD_SMN_ENDPOINT", endpoint.as_str()),
        ("HUAWEICLOUD_SDK_PROJECT_ID", project.as_str()),
    ];
    let h = handler_env(&sim, &env);
    let (quiet, code) = report(&h, json!({"domains": ["www.example.com"]})).await;
    assert_eq!(code, 0, "{quiet:#}");
    assert!(quiet.get("notifications").is_none(), "{quiet:#}");
    assert!(sim.smn_messages().is_empty());

    let (r, code) = report(&h, json!({"all": true})).await;
    assert_eq!(code, 0, "expiring is a warning, not a failure: {r:#}");
    let names: Vec<&str> = r["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["img.example.com", "www.example.com"],
        "soonest first"
    );
    assert_eq!(r["notifications"][0]["ok"], true, "{r:#}");
    let told = sim.smn_messages();
    assert_eq!(told.len(), 1, "{told:#?}");
    let text = told[0].to_string();
    assert!(text.contains("1 expiring"), "{text}");
    assert!(text.contains("img.example.com"), "{text}");
    assert_eq!(writes(&sim), 0);
}

/// A domain whose DNS no longer points at the CDN "deploys" and serves nobody: the doctor
/// compares its CNAME (asked of the simulator's DNS) with the one the CDN assigned.
#[tokio::test]
async fn a_cname_not_pointing_at_the_cdn_is_named() {
    let sim = start(sim_config(vec![
        domain("www.example.com", 100),
        SimDomainConfig {
            dns_cname: Some("old-cdn.example.net".into()),
            ..SimDomainConfig::new("moved.example.com")
        },
        SimDomainConfig {
            dns_cname: Some(String::new()),
            ..SimDomainConfig::new("bare.example.com")
        },
        domain("*.example.com", 100),
    ]))
    .await;
    let h = handler(&sim);
    let (r, _) = report(
        &h,
        json!({"domains": ["www.example.com", "moved.example.com", "bare.example.com", "*.example.com"]}),
    )
    .await;
    assert_eq!(entry(&r, "www.example.com")["cname_ok"], true, "{r:#}");
    assert_eq!(entry(&r, "*.example.com")["cname_ok"], true, "{r:#}");
    assert_eq!(entry(&r, "moved.example.com")["cname_ok"], false);
    assert!(problems(&r, "moved.example.com").contains(&"cname_not_pointing".to_string()));
    assert_eq!(entry(&r, "bare.example.com")["cname_ok"], false);
    assert_eq!(check(&r, "dns")["status"], "ok");
}

/// `--all` on an account of 1000 domains: every one listed, the soonest-expiring first, those
/// serving no certificate last; quotas 100 times faster (real time: DNS waits are real).
#[tokio::test]
async fn all_on_1000_domains_is_the_expiry_inventory() {
    let certs: Vec<(i64, TestCert)> = [5, 30, 200, 60]
        .iter()
        .map(|d| (*d, cert_valid(&["example.com", "*.example.com"], -10, *d)))
        .collect();
    let domains: Vec<SimDomainConfig> = (0..1000)
        .map(|i| {
            let name = format!("d{i:04}.example.com");
            match i % 5 {
                4 => SimDomainConfig::new(&name),
                k => {
                    let c = &certs[k].1;
                    SimDomainConfig {
                        https: Some(json!({"https_status": "on", "certificate_value": c.chain,
                                           "private_key": c.key, "certificate_name": "live",
                                           "http2_status": "on"})),
                        ..SimDomainConfig::new(&name)
                    }
                }
            }
        })
        .collect();
    let mut cfg = sim_config(domains);
    cfg.quota_time_scale = 100.0;
    let sim = start(cfg).await;
    let mut h = handler(&sim);
    scale_quotas(&mut h, 100.0);
    let out = run(&h, doctor(json!({"all": true})), Duration::from_secs(120)).await;
    let r = out.to_json();
    let entries = r["domains"].as_array().unwrap();
    assert_eq!(entries.len(), 1000);
    let days: Vec<Option<i64>> = entries
        .iter()
        .map(|e| e["certificate"]["days_left"].as_i64())
        .collect();
    let served: Vec<i64> = days.iter().map_while(|d| *d).collect();
    assert_eq!(served.len(), 800, "every HTTPS domain first");
    assert!(
        served.windows(2).all(|w| w[0] <= w[1]),
        "sorted by days left"
    );
    assert!(
        days[800..].iter().all(Option::is_none),
        "those serving none last"
    );
    let expiring = entries
        .iter()
        .filter(|e| {
            e["problems"]
                .as_array()
                .unwrap()
                .contains(&json!("expiring"))
        })
        .count();
    assert_eq!(expiring, 200, "those inside the warning window are flagged");
    assert_eq!(
        check(&r, "permission:ShowDomainFullConfig")["status"],
        "ok",
        "{:#}",
        r["checks"]
    );
    // Without a certificate every domain would be written: the class's sample alone, then the
    // other 999 in batches of 50 once it is proved.
    assert_eq!(r["forecast"]["calls"]["batch"], 21, "{}", r["forecast"]);
    assert_eq!(writes(&sim), 0);
}
