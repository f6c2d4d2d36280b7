//! The engine against the simulator over real HTTP: statuses, kept settings, quotas, faults,
//! budgets and authentication.

mod common;

use std::time::Duration;

use cdn_cert_deploy::cert;
use cdn_cert_deploy::huawei::quota::Api;
use cdn_cert_deploy::sim::{ErrorStyle, FaultKind, Outcome, SimDomainConfig};
use common::*;
use serde_json::json;

const BUDGET: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_slow_domain_is_deployed_only_once_it_reads_online() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 2500)])).await;
    let out = run(&handler(&sim), request(&["www.example.com"], &cert), BUDGET).await;
    let d = &out.result.domains[0];
    assert_eq!(d.status.as_str(), "deployed", "{:?}", d);
    assert_eq!(out.exit_code, 0);
    assert!(out.result.ok);
    // It was polled while configuring, and only reported once live.
    assert!(d.elapsed_ms >= 2500, "reported after {} ms", d.elapsed_ms);
    assert!(
        d.api_calls >= 5,
        "read (2) + write + polls, got {}",
        d.api_calls
    );
    let now = sim.domain("www.example.com").unwrap();
    assert_eq!(now.status, "online");
    assert_eq!(now.writes, 1);
    assert!(now.private_key_present);
    assert_eq!(
        cdn_cert_deploy::cert::leaf_fingerprint(now.https["certificate_value"].as_str().unwrap()),
        Some(
            out.result
                .certificate
                .as_ref()
                .unwrap()
                .leaf
                .as_ref()
                .unwrap()
                .sha256_fingerprint
                .clone()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn settings_the_user_did_not_ask_to_change_read_the_same_afterwards() {
    let cert = example_cert();
    let old = cert_valid(&["www.example.com"], -30, 10);
    let mut www = domain("www.example.com", 300);
    www.https = Some(serving(&old, "on", "TLSv1.2,TLSv1.3", "on"));
    www.origin_protocol = "https".into();
    www.force_redirect = Some(json!({"status": "on", "type": "https", "redirect_code": 301}));
    let mut img = domain("img.example.com", 300);
    img.https = Some(serving(&old, "off", "TLSv1.3", "off"));
    img.origin_protocol = "http".into();
    let sim = start(sim_config(vec![www, img])).await;
    let before_www = sim.domain("www.example.com").unwrap();
    let before_img = sim.domain("img.example.com").unwrap();

    let out = run(
        &handler(&sim),
        request(&["www.example.com", "img.example.com"], &cert),
        BUDGET,
    )
    .await;
    assert!(out.result.ok, "{:?}", statuses(&out));
    for (before, name) in [
        (before_www, "www.example.com"),
        (before_img, "img.example.com"),
    ] {
        let after = sim.domain(name).unwrap();
        for key in ["http2_status", "tls_version", "ocsp_stapling_status"] {
            assert_eq!(after.https[key], before.https[key], "{name} {key}");
        }
        assert_eq!(after.origin_protocol, before.origin_protocol, "{name}");
        assert_eq!(after.force_redirect, before.force_redirect, "{name}");
        assert_ne!(
            after.https["certificate_value"],
            before.https["certificate_value"]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn requested_overrides_change_only_what_they_name() {
    let cert = example_cert();
    let old = cert_valid(&["www.example.com"], -30, 10);
    let mut www = domain("www.example.com", 200);
    www.https = Some(serving(&old, "on", "TLSv1.2,TLSv1.3", "on"));
    let sim = start(sim_config(vec![www])).await;
    let mut req = request(&["www.example.com"], &cert);
    req["options"] = json!({"http2": false, "tls_version": "TLSv1.3"});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert!(out.result.ok);
    let after = sim.domain("www.example.com").unwrap();
    assert_eq!(after.https["http2_status"], "off");
    assert_eq!(after.https["tls_version"], "TLSv1.3");
    assert_eq!(after.https["ocsp_stapling_status"], "on");
}

#[tokio::test(start_paused = true)]
async fn a_domain_already_serving_the_certificate_is_unchanged_with_no_write() {
    let cert = example_cert();
    let mut img = domain("img.example.com", 300);
    img.https = Some(serving(&cert, "on", "TLSv1.2", "off"));
    let sim = start(sim_config(vec![img])).await;
    let out = run(&handler(&sim), request(&["img.example.com"], &cert), BUDGET).await;
    assert_eq!(statuses(&out)[0].1, "unchanged");
    assert_eq!(
        out.result.domains[0].message.as_deref(),
        Some("already serves this certificate")
    );
    assert!(out.result.ok);
    assert_eq!(sim.domain("img.example.com").unwrap().writes, 0);
    assert_eq!(sim.stats().calls(Api::UpdateFullConfig), 0);

    // `force` writes anyway.
    let mut req = request(&["img.example.com"], &cert);
    req["options"] = json!({"force": true});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(statuses(&out)[0].1, "deployed");
    assert_eq!(sim.domain("img.example.com").unwrap().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_domain_serving_a_newer_certificate_for_the_same_names_is_not_downgraded() {
    // A stale store sends a certificate expiring in 30 days; www serves one until day 80.
    let stale = cert_valid(&["example.com", "*.example.com"], -60, 30);
    let newer = cert_valid(&["example.com", "*.example.com"], -10, 80);
    let older = cert_valid(&["example.com", "*.example.com"], -80, 10);
    let mut www = domain("www.example.com", 300);
    www.https = Some(serving(&newer, "on", "TLSv1.2,TLSv1.3", "on"));
    let mut img = domain("img.example.com", 300);
    img.https = Some(serving(&older, "on", "TLSv1.2,TLSv1.3", "on"));
    let sim = start(sim_config(vec![www, img])).await;
    let names = ["www.example.com", "img.example.com"];
    let out = run(&handler(&sim), request(&names, &stale), BUDGET).await;
    let www = &out.result.domains[0];
    assert_eq!(www.status.as_str(), "skipped", "{www:?}");
    let e = www.error.as_ref().unwrap();
    assert_eq!(e.code.as_str(), "newer_certificate_live");
    assert!(!e.retryable);
    // Both dates, so a person sees which is newer.
    let served = cert::rfc3339(cert::leaf_not_after(&newer.chain).unwrap());
    let sent = cert::rfc3339(cert::leaf_not_after(&stale.chain).unwrap());
    assert!(
        e.message.contains(&served[..10]) && e.message.contains(&sent[..10]),
        "{}",
        e.message
    );
    assert_eq!(sim.domain("www.example.com").unwrap().writes, 0);
    // The domain whose certificate is older is renewed.
    assert_eq!(out.result.domains[1].status.as_str(), "deployed");
    assert!(!out.result.ok);
    assert_eq!(out.exit_code, 1);

    // `force` replaces it.
    let mut req = request(&["www.example.com"], &stale);
    req["options"] = json!({"force": true});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(statuses(&out)[0].1, "deployed");
    assert_eq!(sim.domain("www.example.com").unwrap().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn no_downgrade_holds_for_a_batched_run_too() {
    let stale = cert_valid(&["example.com", "*.example.com"], -60, 30);
    let newer = cert_valid(&["example.com", "*.example.com"], -10, 80);
    let names: Vec<String> = (0..30).map(|i| format!("d{i}.example.com")).collect();
    let domains = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut d = domain(n, 300);
            if i % 3 == 0 {
                d.https = Some(serving(&newer, "off", "TLSv1.1,TLSv1.2,TLSv1.3", "off"));
            }
            d
        })
        .collect();
    let sim = start(sim_config(domains)).await;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = run(&handler(&sim), request(&refs, &stale), BUDGET).await;
    for (i, d) in out.result.domains.iter().enumerate() {
        if i % 3 == 0 {
            assert_eq!(d.status.as_str(), "skipped", "{d:?}");
            assert_eq!(
                d.error.as_ref().unwrap().code.as_str(),
                "newer_certificate_live"
            );
            assert_eq!(sim.domain(&d.domain).unwrap().writes, 0, "{}", d.domain);
        } else {
            assert_eq!(d.status.as_str(), "deployed", "{d:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_cdn_wildcard_domain_deploys() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("*.example.com", 200)])).await;
    let out = run(&handler(&sim), request(&["*.example.com"], &cert), BUDGET).await;
    assert_eq!(
        statuses(&out),
        vec![("*.example.com".into(), "deployed".into())]
    );
    assert_eq!(sim.stats().auth_failures, 0);
    assert_eq!(sim.domain("*.example.com").unwrap().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn dry_run_writes_nothing() {
    let cert = example_cert();
    let mut img = domain("img.example.com", 300);
    img.https = Some(serving(&cert, "on", "TLSv1.2", "off"));
    let sim = start(sim_config(vec![domain("www.example.com", 300), img])).await;
    let mut req = request(&["www.example.com", "img.example.com"], &cert);
    req["options"] = json!({"dry_run": true});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(
        statuses(&out),
        vec![
            ("www.example.com".into(), "planned".into()),
            ("img.example.com".into(), "unchanged".into())
        ]
    );
    assert!(out.result.ok);
    assert_eq!(out.result.summary.planned, 1);
    assert_eq!(sim.stats().calls(Api::UpdateFullConfig), 0);
}

#[tokio::test(start_paused = true)]
async fn wait_false_stops_after_the_write_is_accepted() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 5000)])).await;
    let mut req = request(&["www.example.com"], &cert);
    req["options"] = json!({"wait": false});
    let out = run(&handler(&sim), req, BUDGET).await;
    assert_eq!(statuses(&out)[0].1, "submitted");
    assert!(out.result.ok);
    assert_eq!(sim.domain("www.example.com").unwrap().status, "configuring");
}

#[tokio::test(start_paused = true)]
async fn quotas_far_below_the_domain_count_are_met_by_backing_off() {
    let cert = example_cert();
    let names: Vec<String> = (0..16).map(|i| format!("d{i}.example.com")).collect();
    let mut cfg = sim_config(names.iter().map(|n| domain(n, 200)).collect());
    // 4 calls per API per 0.5 s: far below what 16 domains need.
    cfg.quota_time_scale = 120.0;
    for api in [
        Api::ShowDomainDetail,
        Api::ShowFullConfig,
        Api::UpdateFullConfig,
    ] {
        cfg.quotas.insert(api.name().into(), 4);
    }
    let sim = start(cfg).await;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = run(&handler(&sim), request(&refs, &cert), BUDGET).await;
    assert!(out.result.ok, "{:?}", statuses(&out));
    assert_eq!(out.result.summary.deployed, 16);
    assert!(
        sim.stats().total_throttled() > 0,
        "the quota was in fact hit"
    );
    for n in &names {
        assert_eq!(sim.domain(n).unwrap().writes, 1, "{n}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_500_on_a_write_that_was_applied_is_read_back_and_deployed() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 300)]);
    cfg.faults.push(error_once(
        Api::UpdateFullConfig,
        500,
        "CDN.0001",
        ErrorStyle::Cdn,
        true,
    ));
    let sim = start(cfg).await;
    let out = run(&handler(&sim), request(&["www.example.com"], &cert), BUDGET).await;
    assert_deployed(&out);
    assert_eq!(
        sim.domain("www.example.com").unwrap().writes,
        1,
        "not written twice"
    );
    assert_eq!(sim.stats().injected_errors, 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_reset_on_a_write_is_retried_after_a_re_read() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![
        domain("www.example.com", 300),
        domain("img.example.com", 300),
    ]);
    for (d, apply) in [("www.example.com", false), ("img.example.com", true)] {
        cfg.faults.push(once(
            Api::UpdateFullConfig,
            Some(d),
            FaultKind::Reset { apply },
        ));
    }
    let sim = start(cfg).await;
    let out = run(
        &handler(&sim),
        request(&["www.example.com", "img.example.com"], &cert),
        BUDGET,
    )
    .await;
    assert!(out.result.ok, "{:?}", out.result.domains);
    assert_eq!(sim.stats().resets, 2);
    assert_eq!(
        sim.domain("www.example.com").unwrap().writes,
        1,
        "lost write redone"
    );
    assert_eq!(
        sim.domain("img.example.com").unwrap().writes,
        1,
        "applied write not redone"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_and_5xx_reads_are_retried() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 200)]);
    for (status, code, style) in [
        (429, "APIGW.0308", ErrorStyle::Flat),
        (503, "CDN.0001", ErrorStyle::Camel),
        (502, "", ErrorStyle::Code),
    ] {
        cfg.faults.push(error_once(
            Api::ShowDomainDetail,
            status,
            code,
            style,
            false,
        ));
    }
    let sim = start(cfg).await;
    let out = run(&handler(&sim), request(&["www.example.com"], &cert), BUDGET).await;
    assert_deployed(&out);
    assert_eq!(sim.stats().injected_errors, 3);
}

#[tokio::test(start_paused = true)]
async fn a_busy_domain_is_waited_for_then_deployed() {
    let cert = example_cert();
    let busy = SimDomainConfig {
        status: "configuring".into(),
        ..domain("www.example.com", 1500)
    };
    let sim = start(sim_config(vec![busy])).await;
    let out = run(&handler(&sim), request(&["www.example.com"], &cert), BUDGET).await;
    assert_deployed(&out);
    assert_eq!(sim.domain("www.example.com").unwrap().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_busy_answer_to_a_write_waits_and_retries() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 200)]);
    cfg.faults.push(error_once(
        Api::UpdateFullConfig,
        400,
        "CDN.0106",
        ErrorStyle::Cdn,
        false,
    ));
    let sim = start(cfg).await;
    let out = run(&handler(&sim), request(&["www.example.com"], &cert), BUDGET).await;
    assert_deployed(&out);
    assert_eq!(sim.stats().calls(Api::UpdateFullConfig), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_domain_with_a_short_budget_is_pending_and_the_answer_comes_in_time() {
    let cert = example_cert();
    let stuck = SimDomainConfig {
        outcome: Outcome::Stuck,
        ..domain("stuck.example.com", 100)
    };
    let sim = start(sim_config(vec![stuck, domain("www.example.com", 200)])).await;
    let budget = Duration::from_secs(4);
    let started = tokio::time::Instant::now();
    let out = run(
        &handler(&sim),
        request(&["stuck.example.com", "www.example.com"], &cert),
        budget,
    )
    .await;
    let d = &out.result.domains[0];
    assert_eq!(d.status.as_str(), "pending", "{d:?}");
    assert!(
        d.message.as_deref().unwrap().contains("configuring"),
        "{d:?}"
    );
    assert_eq!(statuses(&out)[1].1, "deployed");
    assert!(!out.result.ok);
    assert_eq!(out.exit_code, 1);
    assert!(out.result.elapsed_ms <= out.result.budget_ms);
    assert!(
        started.elapsed() <= budget,
        "answered after {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_wrong_secret_key_stops_every_call_after_one_signed_attempt() {
    let cert = example_cert();
    let names: Vec<String> = (0..6).map(|i| format!("d{i}.example.com")).collect();
    let sim = start(sim_config(names.iter().map(|n| domain(n, 200)).collect())).await;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = run(
        &handler_with(&sim, credentials("wrong-secret")),
        request(&refs, &cert),
        BUDGET,
    )
    .await;
    assert!(!out.result.ok);
    assert_eq!(out.exit_code, 1);
    for d in &out.result.domains {
        let e = d.error.as_ref().expect("an error per domain");
        assert!(
            ["auth_failed", "APIGW.0301"].contains(&e.code.as_str()),
            "{d:?}"
        );
        assert!(["failed", "skipped"].contains(&d.status.as_str()));
    }
    let signed = sim.stats().signed_calls;
    assert!(
        signed < 5,
        "{signed} signed calls would risk locking the key"
    );
    assert_eq!(sim.stats().auth_failures, signed);
}

#[tokio::test(start_paused = true)]
async fn a_signing_date_15_minutes_off_is_refused() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("www.example.com", 200)])).await;
    let mut h = handler(&sim);
    let now = cdn_cert_deploy::clock::SystemClock;
    use cdn_cert_deploy::clock::Clock;
    h.clock = std::sync::Arc::new(cdn_cert_deploy::clock::FixedClock(now.unix_now() - 16 * 60));
    let out = run(&h, request(&["www.example.com"], &cert), BUDGET).await;
    let d = &out.result.domains[0];
    assert_eq!(d.status.as_str(), "failed");
    assert_eq!(d.error.as_ref().unwrap().http_status, Some(401));
    assert_eq!(sim.stats().auth_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_security_token_is_sent_and_signed() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 200)]);
    cfg.credentials[0].security_token = Some("temporary-token-value".into());
    let sim = start(cfg).await;
    // Without the token: refused.
    let out = run(&handler(&sim), request(&["www.example.com"], &cert), BUDGET).await;
    assert_eq!(statuses(&out)[0].1, "failed");
    // With it: deployed.
    let mut creds = credentials(SK);
    creds.security_token = Some(cdn_cert_deploy::huawei::credential::Secret::new(
        "temporary-token-value",
    ));
    let sim2 = start({
        let mut c = sim_config(vec![domain("www.example.com", 200)]);
        c.credentials[0].security_token = Some("temporary-token-value".into());
        c
    })
    .await;
    let out = run(
        &handler_with(&sim2, creds),
        request(&["www.example.com"], &cert),
        BUDGET,
    )
    .await;
    assert_eq!(statuses(&out)[0].1, "deployed");
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_times_out_and_is_retried() {
    let cert = example_cert();
    let mut cfg = sim_config(vec![domain("www.example.com", 200)]);
    cfg.faults.push(once(
        Api::ShowFullConfig,
        None,
        FaultKind::Delay { delay_ms: 3000 },
    ));
    let sim = start(cfg).await;
    let mut h = handler(&sim);
    h.engine.request_timeout = Duration::from_millis(500);
    let out = run(&h, request(&["www.example.com"], &cert), BUDGET).await;
    assert_deployed(&out);
    // The first read timed out, so the configuration was read at least twice before the write.
    assert!(sim.stats().calls(Api::ShowFullConfig) >= 3);
    assert_eq!(sim.domain("www.example.com").unwrap().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn an_offline_domain_is_skipped_and_the_others_go_on() {
    let cert = example_cert();
    let offline = SimDomainConfig {
        status: "offline".into(),
        ..domain("off.example.com", 200)
    };
    let sim = start(sim_config(vec![offline, domain("www.example.com", 200)])).await;
    let out = run(
        &handler(&sim),
        request(&["off.example.com", "www.example.com"], &cert),
        BUDGET,
    )
    .await;
    assert_eq!(
        statuses(&out),
        vec![
            ("off.example.com".into(), "skipped".into()),
            ("www.example.com".into(), "deployed".into())
        ]
    );
    assert_eq!(
        out.result.domains[0].error.as_ref().unwrap().code,
        "domain_unavailable"
    );
    assert_eq!(sim.domain("off.example.com").unwrap().writes, 0);
}

#[tokio::test(start_paused = true)]
async fn a_pending_domain_reads_unchanged_on_the_next_run_once_live() {
    let cert = example_cert();
    let sim = start(sim_config(vec![domain("slow.example.com", 3500)])).await;
    let first = run(
        &handler(&sim),
        request(&["slow.example.com"], &cert),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        statuses(&first)[0].1,
        "pending",
        "{:?}",
        first.result.domains[0]
    );
    assert_eq!(first.exit_code, 1);
    // Safe to run again: once the domain is live the run writes nothing and says so.
    while sim.domain("slow.example.com").unwrap().status != "online" {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = run(
        &handler(&sim),
        request(&["slow.example.com"], &cert),
        BUDGET,
    )
    .await;
    assert_eq!(statuses(&again)[0].1, "unchanged");
    assert!(again.result.ok);
    assert_eq!(sim.domain("slow.example.com").unwrap().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn the_expiry_report_flags_domains_left_on_a_certificate_that_expires_soon() {
    let cert = example_cert();
    let soon = cert_valid(&["example.com", "*.example.com"], -80, 10);
    let later = cert_valid(&["example.com", "*.example.com"], -30, 60);
    let on = |name: &str, old: &TestCert| SimDomainConfig {
        https: Some(serving(old, "on", "TLSv1.2,TLSv1.3", "off")),
        ..domain(name, 300)
    };
    let sim = start(sim_config(vec![
        on("renewed.example.com", &soon),
        SimDomainConfig {
            outcome: Outcome::ConfigureFailed,
            ..on("broken.example.com", &soon)
        },
        SimDomainConfig {
            outcome: Outcome::ConfigureFailed,
            ..on("calm.example.com", &later)
        },
        domain("plain.example.com", 300),
    ]))
    .await;
    let h = handler(&sim);
    let names = [
        "renewed.example.com",
        "broken.example.com",
        "calm.example.com",
        "plain.example.com",
    ];
    let out = run(&h, request(&names, &cert), BUDGET).await;
    let soon_at = cert::leaf_not_after(&soon.chain).map(cert::rfc3339);
    let later_at = cert::leaf_not_after(&later.chain).map(cert::rfc3339);
    let report: Vec<(&str, &str, Option<String>, bool)> = out
        .result
        .domains
        .iter()
        .map(|d| {
            (
                d.domain.as_str(),
                d.status.as_str(),
                d.previous_not_after.clone(),
                d.expiring,
            )
        })
        .collect();
    assert_eq!(
        report,
        vec![
            ("renewed.example.com", "deployed", soon_at.clone(), false),
            ("broken.example.com", "failed", soon_at, true),
            ("calm.example.com", "failed", later_at, false),
            // HTTPS was off: no previous certificate.
            ("plain.example.com", "deployed", None, false),
        ]
    );
    let json = serde_json::to_value(&out.result).unwrap();
    assert!(json["domains"][3]["previous_not_after"].is_null());
    assert_eq!(json["domains"][1]["expiring"], true);

    // With a horizon past the new certificate's 90 days, the renewed domains are flagged too.
    let mut req = request(&["renewed.example.com"], &cert);
    req["options"] = json!({"warn_days": 120});
    let again = run(&h, req, BUDGET).await;
    let d = &again.result.domains[0];
    assert_eq!(d.status.as_str(), "unchanged");
    assert!(d.expiring, "{d:?}");
}
