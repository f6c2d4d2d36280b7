//! The truth soak (issue 15): a thousand domains on the simulator, each with a fate drawn from a
//! seeded generator (online, already serving, offline, busy, stuck, `configure_failed`, missing,
//! not covered, per-domain faults, settings that must be kept), deployed at scaled time; every
//! status the run reports is then checked against the simulator's own record of the domain (its
//! write log and its timeline of status and certificate served).
//!
//! The seed comes from `SOAK_SEED`, else from the clock, and is printed first:
//! `SOAK_SEED=<seed> cargo test --test soak <test>` draws the same account, faults and budget
//! again (the deployer's own jitter is not seeded, so a replay is the same scenario, not the same
//! interleaving). `SOAK_ROUNDS=<n>` runs `n` seeds per test (seed, seed + 1, ...).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use cdn_cert_deploy::huawei::quota::{Api, Quota};
use cdn_cert_deploy::result::DomainResult;
use cdn_cert_deploy::sim::{
    DomainSnapshot, ErrorStyle, Fault, FaultKind, Outcome, SimDomainConfig, Simulator, WriteAnswer,
};
use common::*;
use serde_json::{json, Value};
use tokio::time::Instant;

/// Domains in the account (and the request).
const N: usize = 1000;
/// The documented quotas and their windows, this many times faster on both sides.
const SCALE: f64 = 60.0;
/// A domain live with the new certificate for longer than this before the run ended should have
/// been confirmed (issue 21: whatever else is throttled, confirmation never starves).
const CONFIRM_SLACK_MS: u64 = 3_000;

/// What a domain is, and what happens to its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    /// Online, serving an older certificate.
    Plain,
    /// Online, already serving the new certificate.
    Serving,
    /// Offline, being checked, check failed or being deleted.
    Offline,
    /// `configuring` another change when the run starts.
    BusyAtStart,
    /// Its writes are refused as busy (`CDN.0106`, or a batch entry saying so) a time or two.
    BusyOnWrite,
    /// Never leaves `configuring` after a write.
    Stuck,
    /// Ends `configure_failed` after a write.
    ConfigureFailed,
    /// Requested, but not in the account (`CDN.0170`).
    Missing,
    /// In the account, but the certificate does not cover it.
    NotCovered,
    /// Its per-domain writes lose their connection (applied or not).
    ResetOnWrite,
    /// Its per-domain writes are answered 500, not applied.
    Error500OnWrite,
    /// Its per-domain write is applied, then answered 500.
    AppliedThen500,
    /// Its full reads lose their connection or are answered 500/503.
    ErrorOnRead,
    /// Slow answers to its reads and writes.
    Slow,
    /// 429 (`APIGW.0308`) on its own reads and writes.
    Throttled,
    /// Its entry of a batch answer is refused once.
    BatchRefused,
    /// HTTP/2 on, TLS 1.2+1.3 or 1.3 only, OCSP on, an HTTPS origin, a redirect to HTTPS (302):
    /// all must read the same after the run.
    KeepSettings,
}

impl Fate {
    /// Drawn with these weights (out of 100).
    const WEIGHTS: [(Fate, u32); 17] = [
        (Fate::Plain, 34),
        (Fate::Serving, 7),
        (Fate::Offline, 4),
        (Fate::BusyAtStart, 5),
        (Fate::BusyOnWrite, 4),
        (Fate::Stuck, 3),
        (Fate::ConfigureFailed, 3),
        (Fate::Missing, 3),
        (Fate::NotCovered, 2),
        (Fate::ResetOnWrite, 4),
        (Fate::Error500OnWrite, 4),
        (Fate::AppliedThen500, 4),
        (Fate::ErrorOnRead, 5),
        (Fate::Slow, 4),
        (Fate::Throttled, 4),
        (Fate::BatchRefused, 4),
        (Fate::KeepSettings, 6),
    ];

    fn draw(rng: &mut fastrand::Rng) -> Fate {
        let total: u32 = Self::WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut x = rng.u32(0..total);
        for (fate, w) in Self::WEIGHTS {
            if x < w {
                return fate;
            }
            x -= w;
        }
        unreachable!()
    }

    /// Its faults hit the per-domain write, which only a domain written alone makes.
    fn faults_the_own_write(self) -> bool {
        matches!(
            self,
            Fate::BusyOnWrite
                | Fate::ResetOnWrite
                | Fate::Error500OnWrite
                | Fate::AppliedThen500
                | Fate::Slow
                | Fate::Throttled
        )
    }
}

/// One requested domain: its fate, and what the account holds of it (nothing when missing).
struct Planned {
    name: String,
    fate: Fate,
    config: Option<SimDomainConfig>,
}

/// One run's scenario, all drawn from the seed.
struct Scenario {
    seed: u64,
    cut: bool,
    budget: Duration,
    options: Value,
    domains: Vec<Planned>,
    faults: Vec<Fault>,
    batch_keeps: Vec<String>,
    bulk_https_origin_status: i64,
    /// The full-read quota (per documented minute) of the account, when lowered.
    read_quota: Option<u32>,
}

fn fault(api: Api, domain: Option<&str>, skip: u32, times: u32, kind: FaultKind) -> Fault {
    Fault {
        api: Some(api.name().into()),
        domain: domain.map(str::to_string),
        skip,
        times: Some(times),
        kind,
    }
}

fn status_fault(http_status: u16, code: &str, apply: bool) -> FaultKind {
    FaultKind::Status {
        http_status,
        code: code.into(),
        message: format!("injected {http_status} {code}"),
        style: if http_status == 429 {
            ErrorStyle::Flat
        } else {
            ErrorStyle::Cdn
        },
        apply,
    }
}

fn pick<'a>(rng: &mut fastrand::Rng, of: &[&'a str]) -> &'a str {
    of[rng.usize(..of.len())]
}

impl Scenario {
    /// `cut`: a budget that ends mid-run (reads slowed to the account's lower quota).
    fn draw(seed: u64, cut: bool, old: &TestCert, new: &TestCert) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut domains = Vec::with_capacity(N);
        let mut faults = Vec::new();
        for i in 0..N {
            let fate = Fate::draw(&mut rng);
            let tld = if fate == Fate::NotCovered {
                "org"
            } else {
                "com"
            };
            let name = format!("d{i:04}.example.{tld}");
            let mut d = domain(&name, rng.u64(200..=2500));
            let http2 = pick(&mut rng, &["on", "off"]);
            let tls = pick(
                &mut rng,
                &[
                    "TLSv1.1,TLSv1.2,TLSv1.3",
                    "TLSv1.1,TLSv1.2,TLSv1.3",
                    "TLSv1.2,TLSv1.3",
                ],
            );
            let ocsp = pick(&mut rng, &["off", "off", "on"]);
            d.https = Some(serving(old, http2, tls, ocsp));
            d.origin_protocol = pick(&mut rng, &["follow", "http", "http", "https"]).into();
            d.force_redirect = Some(match rng.u8(0..4) {
                0 | 1 => json!({"status": "off"}),
                2 => json!({"status": "on", "type": "https", "redirect_code": 301}),
                _ => json!({"status": "on", "type": "https", "redirect_code": 302}),
            });
            // Half the domains whose own write is faulted redirect to HTTP, which the batch call
            // cannot carry: they are written alone, where the faults are.
            if fate.faults_the_own_write() && rng.bool() {
                d.force_redirect =
                    Some(json!({"status": "on", "type": "http", "redirect_code": 301}));
            }
            let me = Some(name.as_str());
            let times = rng.u32(1..=3);
            match fate {
                Fate::Plain | Fate::NotCovered => {}
                Fate::Serving => d.https = Some(serving(new, http2, tls, ocsp)),
                Fate::Offline => {
                    d.status = pick(
                        &mut rng,
                        &["offline", "checking", "check_failed", "deleting"],
                    )
                    .into()
                }
                Fate::BusyAtStart => {
                    d.status = "configuring".into();
                    d.configure_ms = rng.u64(500..=6000);
                }
                Fate::BusyOnWrite => {
                    faults.push(fault(
                        Api::UpdateFullConfig,
                        me,
                        0,
                        times,
                        status_fault(400, "CDN.0106", false),
                    ));
                    faults.push(fault(
                        Api::UpdateMultiCertificates,
                        me,
                        0,
                        1,
                        FaultKind::BatchFail {
                            reason: "The domain is being configured, try again later.".into(),
                        },
                    ));
                }
                Fate::Stuck => d.outcome = Outcome::Stuck,
                Fate::ConfigureFailed => d.outcome = Outcome::ConfigureFailed,
                Fate::Missing => {
                    domains.push(Planned {
                        name,
                        fate,
                        config: None,
                    });
                    continue;
                }
                Fate::ResetOnWrite => faults.push(fault(
                    Api::UpdateFullConfig,
                    me,
                    0,
                    times,
                    FaultKind::Reset { apply: rng.bool() },
                )),
                Fate::Error500OnWrite => faults.push(fault(
                    Api::UpdateFullConfig,
                    me,
                    0,
                    times,
                    status_fault(500, "CDN.0001", false),
                )),
                Fate::AppliedThen500 => faults.push(fault(
                    Api::UpdateFullConfig,
                    me,
                    0,
                    1,
                    status_fault(500, "CDN.0001", true),
                )),
                Fate::ErrorOnRead => {
                    let kind = match rng.u8(0..3) {
                        0 => FaultKind::Reset { apply: false },
                        1 => status_fault(500, "CDN.0001", false),
                        _ => status_fault(503, "CDN.0001", false),
                    };
                    faults.push(fault(Api::ShowFullConfig, me, rng.u32(0..2), times, kind));
                }
                Fate::Slow => {
                    faults.push(fault(
                        Api::ShowFullConfig,
                        me,
                        0,
                        times,
                        FaultKind::Delay {
                            delay_ms: rng.u64(300..=4000),
                        },
                    ));
                    faults.push(fault(
                        Api::UpdateFullConfig,
                        me,
                        0,
                        1,
                        FaultKind::Delay {
                            delay_ms: rng.u64(300..=4000),
                        },
                    ));
                }
                Fate::Throttled => {
                    for api in [Api::ShowFullConfig, Api::UpdateFullConfig] {
                        faults.push(fault(
                            api,
                            me,
                            0,
                            times,
                            status_fault(429, "APIGW.0308", false),
                        ));
                    }
                }
                Fate::BatchRefused => faults.push(fault(
                    Api::UpdateMultiCertificates,
                    me,
                    0,
                    1,
                    FaultKind::BatchFail {
                        reason: pick(
                            &mut rng,
                            &[
                                "internal error, please retry",
                                "certificate check failed for this domain",
                            ],
                        )
                        .into(),
                    },
                )),
                Fate::KeepSettings => {
                    let tls = pick(&mut rng, &["TLSv1.2,TLSv1.3", "TLSv1.3"]);
                    d.https = Some(serving(old, "on", tls, "on"));
                    d.origin_protocol = "https".into();
                    d.force_redirect =
                        Some(json!({"status": "on", "type": "https", "redirect_code": 302}));
                }
            }
            domains.push(Planned {
                name,
                fate,
                config: Some(d),
            });
        }
        // Faults of the shared calls: the sweeps and whole batch calls (one applied, then
        // answered 500; one applied, then reset; refused ones).
        faults.push(fault(
            Api::ListDomains,
            None,
            rng.u32(1..6),
            1,
            status_fault(500, "CDN.0001", false),
        ));
        faults.push(fault(
            Api::ShowHttpsInfo,
            None,
            rng.u32(1..6),
            1,
            status_fault(429, "APIGW.0308", false),
        ));
        for kind in [
            status_fault(500, "CDN.0001", true),
            FaultKind::Reset { apply: true },
            status_fault(500, "CDN.0001", false),
            FaultKind::Reset { apply: false },
            status_fault(429, "APIGW.0308", false),
        ] {
            faults.push(fault(
                Api::UpdateMultiCertificates,
                None,
                rng.u32(0..12),
                1,
                kind,
            ));
        }
        let (budget, read_quota) = if cut {
            // 30 full reads a minute: a thousand domains need longer than the budget.
            (Duration::from_millis(rng.u64(10_000..=25_000)), Some(30))
        } else {
            (Duration::from_secs(90), None)
        };
        let options = if rng.bool() {
            json!({"no_sm_certificates": true})
        } else {
            json!({})
        };
        Scenario {
            seed,
            cut,
            budget,
            options,
            domains,
            faults,
            batch_keeps: if rng.bool() {
                Vec::new()
            } else {
                vec!["all".into()]
            },
            bulk_https_origin_status: if rng.bool() { 3 } else { 2 },
            read_quota,
        }
    }
}

/// The settings a run must keep: HTTP/2, TLS versions, OCSP stapling, origin protocol and the
/// forced redirect.
fn kept_settings(s: &DomainSnapshot) -> Value {
    json!({
        "http2": s.https.get("http2_status"),
        "tls_version": s.https.get("tls_version"),
        "ocsp": s.https.get("ocsp_stapling_status"),
        "origin_protocol": s.origin_protocol,
        "redirect": s.force_redirect,
    })
}

/// Whether the domain was ever online serving `fp`, from `since_ms` on.
fn live_with(s: &DomainSnapshot, fp: &str, since_ms: u64) -> bool {
    s.timeline.iter().any(|e| {
        e.status == "online" && e.certificate.as_deref() == Some(fp) && e.at_ms >= since_ms
    })
}

/// The simulator's record of a domain, for a failure message.
fn record(s: Option<&DomainSnapshot>) -> String {
    let Some(s) = s else {
        return "not in the account".into();
    };
    let mut out = format!(
        "status={} writes={} received={} refusals={:?}\n      timeline:",
        s.status, s.writes, s.writes_received, s.refusals
    );
    for e in &s.timeline {
        let fp = e
            .certificate
            .as_deref()
            .map_or("-".to_string(), |c| c[..12.min(c.len())].to_string());
        let _ = write!(out, " [{}ms {} {fp}]", e.at_ms, e.status);
    }
    out.push_str("\n      writes:");
    for w in &s.write_log {
        let _ = write!(
            out,
            " [{}ms {} applied={} {:?}]",
            w.at_ms, w.api, w.applied, w.answer
        );
    }
    out
}

/// What is wrong with one domain's reported status, judged by the simulator's record.
fn judge(
    sc: &Scenario,
    planned: &Planned,
    d: &DomainResult,
    s: Option<&DomainSnapshot>,
    before: Option<&Value>,
    fp: &str,
    end_ms: u64,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let code = d.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
    let status = d.status.as_str();
    let Some(s) = s else {
        // Not in the account: the CDN says so (or the run never got to it).
        let ok = (status == "failed" && code == "CDN.0170")
            || (status == "skipped" && code == "budget_exhausted");
        if !ok {
            wrong.push("a domain the account does not hold".into());
        }
        return wrong;
    };
    let applied: Vec<_> = s.write_log.iter().filter(|w| w.applied).collect();
    let first_applied = applied.first().map(|w| w.at_ms);
    // A write the caller cannot know was refused: applied, answered ok, lost or unanswered.
    let maybe_applied = s
        .write_log
        .iter()
        .any(|w| w.applied || !matches!(w.answer, WriteAnswer::Refused(_)));
    let ever_live = live_with(s, fp, 0);
    match status {
        "deployed" => match first_applied {
            None => wrong.push("deployed, but no write of the run was applied".into()),
            Some(at) if !live_with(s, fp, at) => wrong
                .push("deployed, but never online with the new certificate after its write".into()),
            _ => {}
        },
        "unchanged" => {
            if !s.write_log.is_empty() {
                wrong.push("unchanged, but the CDN received a write".into());
            }
            if !ever_live {
                wrong.push("unchanged, but never online with the new certificate".into());
            }
        }
        "pending" => {
            if !maybe_applied {
                wrong.push("pending, but no write could have been applied".into());
            }
            let said = format!(
                "{} {}",
                d.message.as_deref().unwrap_or(""),
                d.error.as_ref().map_or("", |e| e.message.as_str())
            );
            if said.contains("not sent") {
                wrong.push(format!(
                    "pending, a write sent, but it says \"not sent\": {said}"
                ));
            }
            let last = s.timeline.last().unwrap();
            if last.status == "online"
                && last.certificate.as_deref() == Some(fp)
                && end_ms.saturating_sub(last.at_ms) > CONFIRM_SLACK_MS
            {
                wrong.push(format!(
                    "pending, but live with the new certificate for {} ms before the run ended",
                    end_ms - last.at_ms
                ));
            }
        }
        "failed" => {
            if ever_live {
                wrong.push("failed, but it went live with the new certificate".into());
            }
            match code {
                "configure_failed" => {
                    if s.timeline.last().unwrap().status != "configure_failed" {
                        wrong.push("failed configure_failed, but it did not end so".into());
                    }
                }
                _ => {
                    let refused = s
                        .write_log
                        .iter()
                        .any(|w| matches!(&w.answer, WriteAnswer::Refused(why) if !why.is_empty()));
                    if !refused {
                        wrong.push(format!("failed {code}, but the CDN refused no write"));
                    }
                }
            }
        }
        "skipped" => {
            if !applied.is_empty() {
                wrong.push("skipped, but a write was applied".into());
            }
            if maybe_applied {
                wrong.push("skipped, but a write may have been applied".into());
            }
            match code {
                // The CDN kept failing, or the budget ended, before anything was written
                // (a CDN's own code is passed through).
                "budget_exhausted" | "throttled" | "upstream_unavailable" => {}
                c if c.starts_with("CDN.") || c.starts_with("APIGW.") => {}
                "domain_not_covered" => {
                    if planned.fate != Fate::NotCovered || !s.write_log.is_empty() {
                        wrong.push("domain_not_covered, but it is covered".into());
                    }
                }
                "domain_unavailable" => {
                    let available = s
                        .timeline
                        .iter()
                        .any(|e| matches!(e.status.as_str(), "online" | "configuring"));
                    if available || !s.write_log.is_empty() {
                        wrong.push("domain_unavailable, but it was online or configuring".into());
                    }
                }
                other => wrong.push(format!("skipped with an unexpected code {other}")),
            }
        }
        other => wrong.push(format!("status {other} in a run that waits")),
    }
    // Settings kept by every domain the run wrote, whatever it ended as: no write may change
    // what the request did not ask to change.
    if let (Some(before), Some(_)) = (before, first_applied) {
        let after = kept_settings(s);
        let changed: Vec<&str> = [
            "http2",
            "tls_version",
            "ocsp",
            "origin_protocol",
            "redirect",
        ]
        .into_iter()
        .filter(|k| after[k] != before[k])
        .collect();
        if !changed.is_empty() {
            wrong.push(format!(
                "written, and its settings changed ({changed:?}): before {before}, after {after}"
            ));
        }
    }
    // A run with time to spare ends every domain as its fate says.
    if !sc.cut {
        let expected = match planned.fate {
            Fate::Serving => "unchanged",
            Fate::Offline | Fate::NotCovered => "skipped",
            Fate::Stuck => "pending",
            Fate::ConfigureFailed | Fate::Missing => "failed",
            _ => "deployed",
        };
        if status != expected {
            wrong.push(format!("a run with time to spare: expected {expected}"));
        }
    }
    wrong
}

/// Runs one scenario and prints the count of each (fate, status, code); returns the failures,
/// each naming the seed, domain, fate, reported status and the simulator's record.
async fn soak(sc: &Scenario, old_new: &(TestCert, TestCert)) -> Vec<String> {
    let (_, cert) = old_new;
    let mut cfg = sim_config(sc.domains.iter().filter_map(|p| p.config.clone()).collect());
    cfg.faults = sc.faults.clone();
    cfg.quota_time_scale = SCALE;
    cfg.batch_keeps = sc.batch_keeps.clone();
    cfg.bulk_https_origin_status = sc.bulk_https_origin_status;
    if let Some(q) = sc.read_quota {
        cfg.quotas.insert(Api::ShowFullConfig.name().into(), q);
    }
    let t0 = Instant::now();
    let sim: Simulator = start(cfg).await;
    let mut h = handler(&sim);
    scale_quotas(&mut h, SCALE);
    if let Some(q) = sc.read_quota {
        // The account's quota, as DEPLOY_API_QUOTAS would give it.
        h.config.quotas.insert(
            Api::ShowFullConfig.name().into(),
            Quota::new(q, Duration::from_secs(60)).scaled(SCALE),
        );
    }
    let names: Vec<&str> = sc.domains.iter().map(|p| p.name.as_str()).collect();
    let before: BTreeMap<&str, Value> = names
        .iter()
        .filter_map(|n| Some((*n, kept_settings(&sim.domain(n)?))))
        .collect();
    let mut req = request(&names, cert);
    req["options"] = sc.options.clone();
    let out = run(&h, req, sc.budget).await;
    let end_ms = t0.elapsed().as_millis() as u64;
    let fp = cdn_cert_deploy::cert::leaf_fingerprint(&cert.chain).unwrap();

    let mut wrong = Vec::new();
    let got: Vec<&str> = out
        .result
        .domains
        .iter()
        .map(|d| d.domain.as_str())
        .collect();
    if got != names {
        wrong.push(format!(
            "seed {}: the result does not list every requested domain once, in order ({} of {})",
            sc.seed,
            got.len(),
            names.len()
        ));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (planned, d) in sc.domains.iter().zip(&out.result.domains) {
        let s = sim.domain(&planned.name);
        let code = d.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
        *seen
            .entry(format!("{:?} {} {code}", planned.fate, d.status.as_str()))
            .or_default() += 1;
        for why in judge(
            sc,
            planned,
            d,
            s.as_ref(),
            before.get(planned.name.as_str()),
            &fp,
            end_ms,
        ) {
            wrong.push(format!(
                "seed {} ({}): {} ({:?}): {why}\n    reported: {} {code} {}\n    simulator: {}",
                sc.seed,
                if sc.cut { "cut" } else { "to the end" },
                planned.name,
                planned.fate,
                d.status.as_str(),
                d.error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .or(d.message.as_deref())
                    .unwrap_or(""),
                record(s.as_ref()),
            ));
        }
    }
    let s = &out.result.summary;
    eprintln!(
        "soak seed {}: {} ms of {} ms budget (simulated), deployed={} unchanged={} pending={} failed={} skipped={}; {:?}",
        sc.seed,
        end_ms,
        sc.budget.as_millis(),
        s.deployed,
        s.unchanged,
        s.pending,
        s.failed,
        s.skipped,
        sim.stats().apis
    );
    let mut lines = String::new();
    for (k, v) in &seen {
        let _ = writeln!(lines, "    {k}: {v}");
    }
    eprint!("{lines}");
    if sc.cut {
        // The budget ended mid-run: both statuses the deadline makes are there.
        for expected in [" pending", " skipped budget_exhausted"] {
            if !seen.keys().any(|k| k.contains(expected)) {
                wrong.push(format!(
                    "seed {}: the budget did not end mid-run (no `{expected}`)",
                    sc.seed
                ));
            }
        }
    } else {
        // The faults fired: writes applied then answered 500 or reset, writes refused (busy,
        // throttled, batch entries), connections reset.
        let logs: Vec<_> = names
            .iter()
            .filter_map(|n| sim.domain(n))
            .flat_map(|d| d.write_log)
            .collect();
        let stats = sim.stats();
        let covered = [
            (
                "a write applied, then its answer lost",
                logs.iter()
                    .any(|w| w.applied && matches!(w.answer, WriteAnswer::Lost(_))),
            ),
            (
                "a write refused",
                logs.iter()
                    .any(|w| matches!(w.answer, WriteAnswer::Refused(_))),
            ),
            ("a connection reset", stats.resets > 0),
            ("an injected error answer", stats.injected_errors > 0),
        ];
        for (what, seen) in covered {
            if !seen {
                wrong.push(format!("seed {}: no {what} in the run", sc.seed));
            }
        }
    }
    wrong
}

/// The seeds of a test's rounds: `SOAK_SEED` (then the next ones), else one from the clock.
fn seeds(variant: u64) -> Vec<u64> {
    let base = match std::env::var("SOAK_SEED") {
        Ok(s) => s.trim().parse::<u64>().expect("SOAK_SEED is a number"),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            (nanos ^ variant.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1_000_000_000_000
        }
    };
    let rounds: u64 = std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    (0..rounds).map(|r| base + r).collect()
}

async fn soak_rounds(cut: bool, test: &str) {
    let certs = (
        cert_valid(&["example.com", "*.example.com"], -30, 10),
        example_cert(),
    );
    let mut wrong = Vec::new();
    for seed in seeds(u64::from(cut)) {
        eprintln!("soak seed {seed} (replay: SOAK_SEED={seed} cargo test --test soak {test})");
        let sc = Scenario::draw(seed, cut, &certs.0, &certs.1);
        eprintln!(
            "  budget {} ms, options {}, batch_keeps {:?}, bulk_https_origin_status {}, full-read quota {:?}",
            sc.budget.as_millis(),
            sc.options,
            sc.batch_keeps,
            sc.bulk_https_origin_status,
            sc.read_quota
        );
        wrong.extend(soak(&sc, &certs).await);
    }
    assert!(
        wrong.is_empty(),
        "{} wrong statuses:\n{}",
        wrong.len(),
        wrong
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(start_paused = true)]
async fn soak_to_the_end() {
    soak_rounds(false, "soak_to_the_end").await;
}

#[tokio::test(start_paused = true)]
async fn soak_cut_by_the_budget() {
    soak_rounds(true, "soak_cut_by_the_budget").await;
}
