//! The plan of a run, decided before the first CDN call and without any I/O: the certificate as
//! read (from the request, or from its store) validated into what to deploy, the job every
//! domain shares, and how the budget is split between deploying, the edge check and the
//! notifications. [`crate::handler`] fetches, plans, then runs the plan.

use std::time::Duration;

use tokio::time::Instant;

use crate::cert;
use crate::deploy::settings::Overrides;
use crate::deploy::{Incoming, Job, Target};
use crate::request::{DeployRequest, MatchMode};
use crate::result::{CertificateSummary, ErrorCode, ErrorInfo};
use crate::scm::{self, ScmFacts};
use crate::secret::Secret;
use crate::trust::{self, Trust, TrustRoots};

/// The certificate of a run once it is read: a store's content has become one of these before a
/// plan is made, so nothing downstream can meet a certificate still to be fetched.
#[derive(Debug, Clone)]
pub enum Certificate {
    /// A chain (leaf first) and its private key, as PEM.
    Pem { chain: String, private_key: Secret },
    /// A Certificate Manager (SCM) certificate id, with what ShowCertificate said of it (`None`
    /// only when `DEPLOY_SCM_CHECK=off` leaves it unread: its names are then unknown).
    Scm { id: String, facts: Option<ScmFacts> },
}

/// What a run will do, decided up front.
#[derive(Debug)]
pub struct Plan {
    pub job: Job,
    /// How the result describes the certificate.
    pub summary: CertificateSummary,
    /// The names the certificate covers (unknown for an SCM certificate left unread): which
    /// domains it may go to.
    pub names: Option<Vec<String>>,
    /// The leaf's fingerprint, when the run knows its bytes (for the edge check).
    pub fingerprint: Option<String>,
    pub verify_edge: bool,
    pub timing: Timing,
}

/// How a run's budget is spent, counted from when the invocation was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub budget: Duration,
    /// Until when domains are deployed.
    pub deploy: Duration,
    /// The time after `deploy` kept for the edge check.
    pub edge: Duration,
}

/// The most kept back for notifications: a few tries of a chat webhook.
pub const NOTIFY_RESERVE: Duration = Duration::from_secs(5);
/// The most kept back for the edge check: one round of handshakes, each within its timeout.
pub const EDGE_RESERVE: Duration = crate::edge::CHECK_TIMEOUT;

/// The most of a run's budget the reads before any CDN call may take, so that the deployment
/// keeps the rest: the account's keys a quarter, the certificate (from its store, or an SCM
/// certificate's names) half.
pub fn keys_deadline(received: Instant, budget: Duration) -> Instant {
    received + budget / 4
}

/// See [`keys_deadline`].
pub fn certificate_deadline(received: Instant, budget: Duration) -> Instant {
    received + budget / 2
}

impl Timing {
    /// Splits `budget`: the answer's assembly (a tenth, at most 0.5 s), the notifications (a
    /// sixth, at most 5 s, when a channel is configured) and the edge check (a sixth, at most
    /// 4 s, when asked) come off the end; the rest is for deploying.
    pub fn split(budget: Duration, notify: bool, verify_edge: bool) -> Self {
        let finishing = (budget / 10).min(Duration::from_millis(500));
        let notify = if notify {
            (budget / 6).min(NOTIFY_RESERVE)
        } else {
            Duration::ZERO
        };
        let edge = if verify_edge {
            (budget / 6).min(EDGE_RESERVE)
        } else {
            Duration::ZERO
        };
        Self {
            budget,
            deploy: budget.saturating_sub(finishing + notify + edge),
            edge,
        }
    }
}

/// The run's budget: the smallest of the platform's, the request's and the configured cap.
pub fn budget(platform: Duration, requested_secs: Option<u64>, cap: Option<Duration>) -> Duration {
    [Some(platform), requested_secs.map(Duration::from_secs), cap]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(platform)
}

/// What a trust note says of a Certificate Manager certificate: its chain is not read (the
/// description ShowCertificate gives holds none, and exporting it would read the private key).
pub const SCM_NOT_CHECKED: &str =
    "not checked (a Certificate Manager certificate: its chain is not read)";

/// A PEM pair checked and made ready to upload: the certificate and key validated
/// ([`cert::validate`]), the chain trusted unless `trust` is `any` and put in the order the CDN
/// should serve it ([`trust::serve`]). Keys are judged first, from the certificates alone, so
/// that an RSA key under 2048 bits is named as such rather than refused as unreadable.
pub fn pem_bundle(
    chain: &str,
    private_key: &Secret,
    trust: Trust,
    roots: &TrustRoots,
    now: i64,
) -> Result<(cert::Bundle, trust::Served), ErrorInfo> {
    let untrusted =
        |e: trust::TrustError| ErrorInfo::new(e.code(), e.to_string()).with_field("certificate");
    if trust == Trust::Verify {
        if let Ok(ders) = cert::parse_chain(chain) {
            trust::check_keys(&ders).map_err(untrusted)?;
        }
    }
    let mut bundle = cert::validate(chain, private_key, now)
        .map_err(|e| ErrorInfo::new(e.code(), e.to_string()).with_field(e.field()))?;
    let served = trust::serve(&bundle.chain, roots, trust, now).map_err(untrusted)?;
    bundle.chain_pem = cert::chain_to_pem(&served.chain);
    bundle.chain.clone_from(&served.chain);
    Ok((bundle, served))
}

/// Plans a run of `req` with `certificate` at `now` (unix seconds); `source` describes the store
/// the certificate was read from, if any (its content is then at fault when it does not
/// validate, not the request). `notify` says whether a notification channel is configured;
/// `roots` are the private roots trusted besides the public web roots.
pub fn plan(
    req: &DeployRequest,
    certificate: Certificate,
    source: Option<String>,
    now: i64,
    budget: Duration,
    notify: bool,
    roots: &TrustRoots,
) -> Result<Plan, ErrorInfo> {
    // A certificate read from a store is the store's fault when it does not validate.
    let from_source = |error: ErrorInfo| match &source {
        Some(src) => ErrorInfo::new(
            ErrorCode::CertificateSource,
            format!("{src}: {}", error.message),
        )
        .with_field("certificate_source")
        .with_reason(error.code.to_string()),
        None => error,
    };
    let (target, summary, names) = match certificate {
        Certificate::Pem { chain, private_key } => {
            let (bundle, served) = pem_bundle(&chain, &private_key, req.options.trust, roots, now)
                .map_err(from_source)?;
            let name = req
                .certificate_name
                .clone()
                .unwrap_or_else(|| cert::derive_name(&bundle.leaf));
            let names = bundle.leaf.subject_names.clone();
            let target = Target::Pem {
                name: name.clone(),
                chain_pem: bundle.chain_pem,
                private_key: bundle.private_key,
                fingerprint: bundle.leaf.sha256_fingerprint.clone(),
            };
            let summary = CertificateSummary {
                name,
                scm_certificate_id: None,
                source: source.clone(),
                leaf: Some(bundle.leaf),
                scm: None,
                trust: Some(served.trust),
                chain: served.notes,
            };
            (target, summary, Some(names))
        }
        Certificate::Scm { id, facts } => {
            if let Some(f) = &facts {
                scm::check(f, now).map_err(|e| {
                    // A source's description already names the certificate.
                    let message = match source {
                        Some(_) => e.to_string(),
                        None => format!("SCM certificate `{id}`: {e}"),
                    };
                    from_source(ErrorInfo::new(e.code(), message).with_field("scm_certificate_id"))
                })?;
            }
            let name = req.certificate_name.clone().unwrap_or_else(|| id.clone());
            let target = Target::Scm {
                id: id.clone(),
                name: name.clone(),
            };
            let names = facts.as_ref().map(|f| f.subject_names.clone());
            let summary = CertificateSummary {
                name,
                scm_certificate_id: Some(id),
                source: source.clone(),
                leaf: None,
                scm: facts,
                trust: Some(SCM_NOT_CHECKED.into()),
                chain: Vec::new(),
            };
            (target, summary, names)
        }
    };
    if req.match_mode == MatchMode::Certsan && names.is_none() {
        return Err(ErrorInfo::new(ErrorCode::InvalidRequest, "\"match\": \"certsan\" needs the certificate's names, and DEPLOY_SCM_CHECK=off leaves the SCM certificate's unread")
        .with_field("match"));
    }
    let not_after = (summary.leaf.as_ref().map(|l| l.not_after_unix))
        .or_else(|| summary.scm.as_ref().and_then(|f| f.not_after_unix));
    let incoming =
        (names.clone().zip(not_after)).map(|(names, not_after)| Incoming { names, not_after });
    let fingerprint = match &target {
        Target::Pem { fingerprint, .. } => Some(fingerprint.clone()),
        Target::Scm { .. } => None,
    };
    let o = &req.options;
    let verify_edge = o.verify_edge && !o.dry_run;
    Ok(Plan {
        job: Job {
            target,
            enterprise_project_id: req.enterprise_project_id.clone(),
            force: o.force,
            dry_run: o.dry_run,
            wait: o.wait,
            overrides: Overrides {
                http2: o.http2,
                tls_version: o.tls_version.clone(),
                ocsp_stapling: o.ocsp_stapling,
            },
            incoming,
            written_before: req
                .workflow
                .as_ref()
                .map(|w| w.written_before())
                .unwrap_or_default(),
        },
        summary,
        names,
        fingerprint,
        verify_edge,
        timing: Timing::split(budget, notify, verify_edge),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{self, Strictness};
    use serde_json::json;

    fn req(extra: serde_json::Value) -> DeployRequest {
        let mut v = json!({"domains": ["www.example.com"], "scm_certificate_id": "scs1"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        request::parse(v, Strictness::Strict).unwrap().0
    }

    #[test]
    fn the_budget_is_the_smallest_limit() {
        let s = Duration::from_secs;
        assert_eq!(budget(s(900), None, None), s(900));
        assert_eq!(budget(s(900), Some(60), Some(s(120))), s(60));
        assert_eq!(budget(s(25), Some(60), None), s(25));
    }

    #[test]
    fn the_budget_keeps_time_for_what_comes_after_deploying() {
        let t = Timing::split(Duration::from_secs(60), false, false);
        assert_eq!(t.deploy, Duration::from_millis(59_500));
        let t = Timing::split(Duration::from_secs(60), true, true);
        assert_eq!(t.edge, EDGE_RESERVE);
        assert_eq!(
            t.deploy,
            Duration::from_millis(60_000 - 500 - 5_000 - 4_000)
        );
        // A short budget keeps a sixth for each, never all of it.
        let t = Timing::split(Duration::from_secs(6), true, true);
        assert_eq!(t.deploy, Duration::from_millis(6_000 - 500 - 1_000 - 1_000));
    }

    fn described(names: &str, not_after: &str, status: &str) -> Certificate {
        let answer = crate::scm::ShowCertificate {
            domain: names.split(';').next().map(str::to_string),
            sans: names.split_once(';').map(|(_, s)| s.to_string()),
            not_after: Some(not_after.into()),
            status: Some(status.into()),
            ..Default::default()
        };
        Certificate::Scm {
            id: "scs1".into(),
            facts: Some(answer.facts()),
        }
    }

    #[test]
    fn an_scm_certificates_names_play_the_leafs_part() {
        let p = plan(
            &req(json!({"match": "certsan", "domains": []})),
            described(
                "example.com;*.example.com",
                "2027-02-25 23:59:59.0",
                "ISSUED",
            ),
            None,
            1_800_000_000,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap();
        assert_eq!(
            p.names.as_deref(),
            Some(&["example.com".to_string(), "*.example.com".to_string()][..])
        );
        assert!(p.fingerprint.is_none());
        let shown = serde_json::to_value(&p.summary).unwrap();
        assert_eq!(
            shown["subject_names"],
            json!(["example.com", "*.example.com"])
        );
        assert_eq!(shown["not_after"], "2027-02-25T23:59:59Z");
        assert_eq!(shown["scm_certificate_id"], "scs1");
    }

    #[test]
    fn an_expired_or_unissued_scm_certificate_is_refused_like_a_pem() {
        let e = plan(
            &req(json!({})),
            described("example.com", "2027-02-25 23:59:59.0", "ISSUED"),
            None,
            1_803_600_000,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::CertificateExpired);
        assert_eq!(e.field.as_deref(), Some("scm_certificate_id"));
        assert!(
            e.message.starts_with("SCM certificate `scs1`: "),
            "{}",
            e.message
        );
        assert_eq!(e.exit_code(), 2);
        // From a certificate_source, the source is at fault, as for a PEM pair.
        let e = plan(
            &req(json!({})),
            described("example.com", "2030-01-01 00:00:00.0", "REVOKED"),
            Some("scm certificate `scs1`".into()),
            0,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::CertificateSource);
        assert_eq!(e.reason.as_deref(), Some("invalid_certificate"));
        assert_eq!(e.field.as_deref(), Some("certificate_source"));
    }

    #[test]
    fn an_unread_scm_certificate_plans_without_names_or_fingerprint() {
        let p = plan(
            &req(json!({"options": {"verify_edge": true, "dry_run": true}})),
            Certificate::Scm {
                id: "scs1".into(),
                facts: None,
            },
            None,
            0,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap();
        assert!(p.names.is_none() && p.fingerprint.is_none());
        assert_eq!(p.summary.scm_certificate_id.as_deref(), Some("scs1"));
        assert!(!p.verify_edge, "a dry run checks no edge");
        assert!(p.job.dry_run);
    }

    #[test]
    fn certsan_needs_the_certificates_names() {
        let e = plan(
            &req(json!({"match": "certsan", "domains": []})),
            Certificate::Scm {
                id: "scs1".into(),
                facts: None,
            },
            None,
            0,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("match"));
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_store_holding_a_bad_pair_is_the_stores_fault() {
        let e = plan(
            &req(json!({})),
            Certificate::Pem {
                chain: "not a certificate".into(),
                private_key: Secret::new("nor a key"),
            },
            Some("secretsmanager secret `x`".into()),
            0,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::CertificateSource);
        assert_eq!(e.field.as_deref(), Some("certificate_source"));
        assert!(e.message.starts_with("secretsmanager secret `x`: "));
        let e = plan(
            &req(json!({})),
            Certificate::Pem {
                chain: "not a certificate".into(),
                private_key: Secret::new("nor a key"),
            },
            None,
            0,
            Duration::from_secs(60),
            false,
            &TrustRoots::default(),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidCertificate);
    }
}
