//! Account-scale behaviour against the simulator: certsan selection, Certificate Manager
//! certificates (their names read before any write, as a PEM leaf's), and hundreds of domains inside scaled quotas (outcomes and call counts, never
//! durations).

mod common;

use std::time::Duration;

use cdn_cert_deploy::handler::Handler;
use cdn_cert_deploy::huawei::quota::Api;
use cdn_cert_deploy::sim::{SimConfig, SimDomainConfig, SimScmCertificate, Simulator};
use common::*;
use serde_json::json;

const BUDGET: Duration = Duration::from_secs(120);

/// A simulator and a handler with the documented quotas `scale` times faster on both sides.
async fn scaled(domains: Vec<SimDomainConfig>, scale: u32) -> (Simulator, Handler) {
    scaled_cfg(sim_config(domains), scale).await
}

/// As [`scaled`], for a whole simulator configuration.
async fn scaled_cfg(mut cfg: SimConfig, scale: u32) -> (Simulator, Handler) {
    cfg.quota_time_scale = f64::from(scale);
    let sim = start(cfg).await;
    let mut h = handler(&sim);
    scale_quotas(&mut h, f64::from(scale));
    (sim, h)
}

fn with_status(name: &str, status: &str) -> SimDomainConfig {
    SimDomainConfig {
        status: status.into(),
        ..domain(name, 200)
    }
}

#[tokio::test(start_paused = true)]
async fn certsan_deploys_every_covered_domain_in_list_order() {
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("img.example.com", 200),
        domain("shop.example.org", 200),
        domain("a.b.example.com", 200),
        domain("*.example.com", 200),
        with_status("old.example.com", "offline"),
        domain("example.com", 200),
        with_status("new.example.com", "checking"),
        with_status("bad.example.com", "check_failed"),
        with_status("gone.example.com", "deleting"),
    ]))
    .await;
    let req = json!({"match": "certsan", "certificate": cert.chain, "private_key": cert.key});
    let out = run(&handler(&sim), req, BUDGET).await;
    let got: Vec<(String, String)> = statuses(&out);
    let expected: Vec<(String, String)> = [
        ("img.example.com", "deployed"),
        ("*.example.com", "deployed"),
        ("old.example.com", "skipped"),
        ("example.com", "deployed"),
        ("new.example.com", "skipped"),
        ("bad.example.com", "skipped"),
        ("gone.example.com", "skipped"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, expected);
    for d in out
        .result
        .domains
        .iter()
        .filter(|d| d.status.as_str() == "skipped")
    {
        let e = d.error.as_ref().unwrap();
        assert_eq!(e.code, "domain_unavailable");
        assert!(e.message.contains('`'), "says which state: {}", e.message);
        assert_eq!(d.api_calls, 0);
    }
    for untouched in ["shop.example.org", "a.b.example.com", "old.example.com"] {
        assert_eq!(sim.domain(untouched).unwrap().writes, 0, "{untouched}");
    }
    assert!(sim.stats().calls(Api::ListDomains) >= 1);
    assert_eq!(out.exit_code, 1, "skipped domains make the run not ok");
}

#[tokio::test(start_paused = true)]
async fn certsan_with_no_covered_domain_says_so() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("shop.example.org", 200)])).await;
    let req = json!({"match": "certsan", "certificate": cert.chain, "private_key": cert.key});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert!(!out.result.ok);
    assert_eq!(out.exit_code, 1);
    assert_eq!(
        out.result.error.as_ref().unwrap().code,
        "no_matching_domains"
    );
    assert!(out.result.domains.is_empty());
    assert_eq!(sim.stats().calls(Api::UpdateFullConfig), 0);
}

/// A simulator holding these domains and Certificate Manager certificate [`SCM_ID`]
/// (`example.com`, `*.example.com`).
async fn with_scm(domains: Vec<SimDomainConfig>) -> Simulator {
    let mut cfg = sim_config(domains);
    cfg.scm_certificates = vec![scm_example()];
    start(cfg).await
}

#[tokio::test(start_paused = true)]
async fn a_certificate_manager_certificate_deploys_and_then_is_unchanged() {
    let sim = with_scm(vec![
        domain("www.example.com", 200),
        domain("img.example.com", 200),
    ])
    .await;
    let req = json!({"domains": ["www.example.com", "img.example.com"],
                     "scm_certificate_id": SCM_ID, "certificate_name": "example-scm"});
    let out = run(&handler(&sim), req.clone(), BUDGET).await;
    assert!(out.result.ok, "{:?}", out.result.domains);
    let https = sim.domain("www.example.com").unwrap().https;
    assert_eq!(https["certificate_source"], 2);
    assert_eq!(https["scm_certificate_id"], SCM_ID);
    let json = out.to_json();
    assert_eq!(json["certificate"]["scm_certificate_id"], SCM_ID);
    assert_eq!(
        json["certificate"]["subject_names"],
        json!(["example.com", "*.example.com"])
    );
    assert_eq!(json["certificate"]["not_after"], "2036-11-25T04:11:50Z");
    assert_eq!(json["certificate"]["scm_status"], "ISSUED");
    assert_eq!(
        sim.stats().scm_calls,
        1,
        "its names read once, before any write"
    );

    let again = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(
        statuses(&again)
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>(),
        vec!["unchanged", "unchanged"]
    );
    assert_eq!(
        sim.stats().calls(Api::UpdateFullConfig),
        2,
        "no write the second time"
    );
}

#[tokio::test(start_paused = true)]
async fn an_scm_certificate_does_not_go_where_its_names_do_not_reach() {
    let sim = with_scm(vec![
        domain("www.example.com", 200),
        domain("shop.example.net", 200),
        domain("a.b.example.com", 200),
    ])
    .await;
    let req = json!({"domains": ["www.example.com", "shop.example.net", "a.b.example.com"],
                     "scm_certificate_id": SCM_ID});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(
        statuses(&out),
        [
            ("www.example.com", "deployed"),
            ("shop.example.net", "skipped"),
            ("a.b.example.com", "skipped"),
        ]
        .map(|(d, s)| (d.to_string(), s.to_string()))
    );
    for d in &out.result.domains[1..] {
        let e = d.error.as_ref().unwrap();
        assert_eq!(e.code, "domain_not_covered");
        assert!(
            e.message.contains("example.com, *.example.com"),
            "{}",
            e.message
        );
        assert_eq!(d.api_calls, 0);
        assert_eq!(sim.domain(&d.domain).unwrap().writes, 0, "{}", d.domain);
    }
    assert_eq!(out.exit_code, 1);
}

#[tokio::test(start_paused = true)]
async fn certsan_with_an_scm_certificate_deploys_to_exactly_the_covered_domains() {
    let sim = with_scm(vec![
        domain("img.example.com", 200),
        domain("shop.example.org", 200),
        domain("a.b.example.com", 200),
        domain("*.example.com", 200),
        domain("example.com", 200),
    ])
    .await;
    let req = json!({"match": "certsan", "scm_certificate_id": SCM_ID});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(
        statuses(&out),
        [
            ("img.example.com", "deployed"),
            ("*.example.com", "deployed"),
            ("example.com", "deployed"),
        ]
        .map(|(d, s)| (d.to_string(), s.to_string()))
    );
    assert!(out.result.ok);
    for untouched in ["shop.example.org", "a.b.example.com"] {
        assert_eq!(sim.domain(untouched).unwrap().writes, 0, "{untouched}");
    }
    assert_eq!(
        sim.domain("*.example.com").unwrap().https["scm_certificate_id"],
        SCM_ID
    );
}

#[tokio::test(start_paused = true)]
async fn an_scm_certificate_that_cannot_be_read_fails_the_run_before_any_cdn_call() {
    let sim = with_scm(vec![domain("www.example.com", 200)]).await;
    sim.put_scm_certificate(SimScmCertificate {
        denied: true,
        ..SimScmCertificate::new("scs-locked", &["www.example.com"], "2036-01-01T00:00:00Z")
    });
    for (id, reason) in [("scs-nope", "not_found"), ("scs-locked", "access_denied")] {
        let req = json!({"domains": ["www.example.com"], "scm_certificate_id": id});
        let out = run(&handler(&sim), req, BUDGET).await;
        let json = out.to_json();
        let e = &json["error"];
        assert_eq!(e["code"], "certificate_source", "{json:#}");
        assert_eq!(e["field"], "scm_certificate_id");
        assert_eq!(e["reason"], reason);
        let message = e["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("SCM certificate `{id}`: ")),
            "{message}"
        );
        assert_eq!(out.exit_code, 2, "{id}");
        assert_eq!(statuses(&out)[0].1, "skipped");
    }
    let stats = sim.stats();
    assert_eq!(stats.scm_calls, 2);
    assert_eq!(stats.signed_calls, 0, "no CDN call: {:?}", stats.apis);
    assert_eq!(sim.domain("www.example.com").unwrap().writes, 0);
}

#[tokio::test(start_paused = true)]
async fn an_expired_scm_certificate_is_refused() {
    let sim = with_scm(vec![domain("www.example.com", 200)]).await;
    sim.put_scm_certificate(SimScmCertificate::new(
        "scs-old",
        &["www.example.com"],
        "2020-01-01T00:00:00Z",
    ));
    let req = json!({"domains": ["www.example.com"], "scm_certificate_id": "scs-old"});
    let out = run(&handler(&sim), req, BUDGET).await;
    let e = out.result.error.as_ref().unwrap();
    assert_eq!(e.code, "certificate_expired");
    assert_eq!(e.field.as_deref(), Some("scm_certificate_id"));
    assert!(e.message.contains("2020-01-01T00:00:00Z"), "{}", e.message);
    assert_eq!(out.exit_code, 2);
    assert_eq!(sim.stats().signed_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn with_the_scm_check_off_an_scm_id_goes_unchecked_as_before() {
    let sim = with_scm(vec![
        domain("www.example.com", 200),
        domain("shop.example.net", 200),
    ])
    .await;
    let h = handler_env(&sim, &[("DEPLOY_SCM_CHECK", "off")]);
    // Names unread: every requested domain is written, and certsan cannot choose any.
    let req =
        json!({"domains": ["www.example.com", "shop.example.net"], "scm_certificate_id": SCM_ID});
    let out = run(&h, req, BUDGET).await;
    assert!(out.result.ok, "{:?}", out.result.domains);
    let req = json!({"match": "certsan", "scm_certificate_id": SCM_ID});
    let out = run(&h, req, BUDGET).await;
    assert_eq!(out.exit_code, 2);
    assert_eq!(
        out.result.error.as_ref().unwrap().field.as_deref(),
        Some("match")
    );
    // An id Certificate Manager does not hold is then the CDN's to refuse.
    let unknown = json!({"domains": ["www.example.com"], "scm_certificate_id": "scs-nope"});
    let out = run(&h, unknown, BUDGET).await;
    assert_eq!(statuses(&out)[0].1, "failed");
    assert_eq!(
        out.result.domains[0].error.as_ref().unwrap().code,
        "CDN.0166"
    );
    assert_eq!(sim.stats().scm_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn three_hundred_domains_deploy_inside_scaled_quotas() {
    const N: usize = 300;
    const SCALE: u32 = 60;
    let cert = example_cert();
    let names: Vec<String> = (0..N).map(|i| format!("d{i:03}.example.com")).collect();
    let mut cfg = sim_config(names.iter().map(|n| domain(n, 300)).collect());
    // The documented quotas, sixty times faster: windows of one second.
    cfg.quota_time_scale = f64::from(SCALE);
    let sim = start(cfg).await;
    let mut h = handler(&sim);
    scale_quotas(&mut h, f64::from(SCALE));
    h.engine.concurrency = 100;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = run(&h, request(&refs, &cert), BUDGET).await;

    assert!(out.result.ok, "{:?}", out.result.summary);
    assert_eq!(out.result.summary.deployed, N);
    let stats = sim.stats();
    // Batched: 50 domains a call, none written alone.
    assert_eq!(stats.calls(Api::UpdateFullConfig), 0);
    let batches = stats.calls(Api::UpdateMultiCertificates);
    assert!(
        (6..=30).contains(&batches),
        "{batches} batch calls for {N} domains"
    );
    for n in &names {
        assert_eq!(sim.domain(n).unwrap().writes, 1, "{n}");
    }
    let calls: u64 = stats.apis.values().map(|a| a.calls).sum();
    assert!(
        stats.total_throttled() * 20 <= calls,
        "pacing keeps 429s under 5 %: {} of {calls}",
        stats.total_throttled()
    );
    let per_domain = out
        .result
        .domains
        .iter()
        .map(|d| d.api_calls)
        .max()
        .unwrap();
    assert!(
        per_domain <= 12,
        "a domain needs a handful of calls, took {per_domain}"
    );
}

#[tokio::test(start_paused = true)]
async fn shared_sweeps_never_credit_one_domain_with_another_s_state() {
    let cert = example_cert();
    let mut domains: Vec<SimDomainConfig> = (0..25)
        .map(|i| domain(&format!("ok{i:02}.example.com"), 300))
        .collect();
    domains.push(SimDomainConfig {
        outcome: cdn_cert_deploy::sim::Outcome::ConfigureFailed,
        ..domain("broken.example.com", 300)
    });
    domains.push(SimDomainConfig {
        outcome: cdn_cert_deploy::sim::Outcome::Stuck,
        ..domain("stuck.example.com", 300)
    });
    let names: Vec<String> = domains.iter().map(|d| d.name.clone()).collect();
    let (sim, mut h) = scaled(domains, 60).await;
    h.engine.bulk_interval = Duration::from_millis(500);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = run(&h, request(&refs, &cert), Duration::from_secs(8)).await;
    for d in &out.result.domains {
        let expected = match d.domain.as_str() {
            "broken.example.com" => "failed",
            "stuck.example.com" => "pending",
            _ => "deployed",
        };
        assert_eq!(d.status.as_str(), expected, "{d:?}");
    }
    assert!(sim.stats().calls(Api::ListDomains) >= 2, "polled by sweeps");
}

#[tokio::test(start_paused = true)]
async fn a_rerun_over_many_live_domains_reads_them_in_bulk_and_writes_nothing() {
    let cert = example_cert();
    let domains: Vec<SimDomainConfig> = (0..40)
        .map(|i| SimDomainConfig {
            https: Some(serving(&cert, "on", "TLSv1.2,TLSv1.3", "off")),
            ..domain(&format!("u{i:02}.example.com"), 300)
        })
        .collect();
    let names: Vec<String> = domains.iter().map(|d| d.name.clone()).collect();
    let (sim, h) = scaled(domains, 60).await;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = run(&h, request(&refs, &cert), BUDGET).await;

    assert!(out.result.ok, "{:?}", out.result.summary);
    assert_eq!(out.result.summary.unchanged, 40);
    let stats = sim.stats();
    // One sweep (a page of each bulk read) instead of two reads per domain.
    assert_eq!(stats.calls(Api::ListDomains), 1, "{stats:?}");
    assert_eq!(stats.calls(Api::ShowHttpsInfo), 1, "{stats:?}");
    assert_eq!(stats.calls(Api::ShowDomainDetail), 0, "{stats:?}");
    assert_eq!(stats.calls(Api::ShowFullConfig), 0, "{stats:?}");
    let expires =
        cdn_cert_deploy::cert::leaf_not_after(&cert.chain).map(cdn_cert_deploy::cert::rfc3339);
    for d in &out.result.domains {
        assert_eq!(d.previous_not_after, expires, "read from the snapshot");
        assert_eq!(d.request_ids.len(), 2, "the sweep's request ids: {d:?}");
        assert_eq!(sim.domain(&d.domain).unwrap().writes, 0);
    }
}
