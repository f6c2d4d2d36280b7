//! The result a run returns: one entry per requested domain, in request order, each with a final
//! status, plus a summary. Pure data and the rules that derive `ok` and the counts.

use serde::Serialize;

use crate::cert::CertificateInfo;
pub use crate::error::ErrorCode;

/// Exit code of a run whose domains all ended well.
pub const EXIT_OK: i32 = 0;
/// Exit code of a valid request where not every domain ended well.
pub const EXIT_NOT_OK: i32 = 1;
/// Exit code of an invalid request or configuration.
pub const EXIT_INVALID: i32 = 2;

/// A domain's final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Reads back `online` with the new certificate.
    Deployed,
    /// Already served this certificate; nothing was written.
    Unchanged,
    /// The write was accepted but not confirmed online within the budget. Safe to run again.
    Pending,
    /// `wait: false` and the write was accepted.
    Submitted,
    /// Dry run: a write would be made.
    Planned,
    /// The CDN rejected the change, the domain ended `configure_failed`, or a non-retryable error.
    Failed,
    /// Not attempted; `error` says why.
    Skipped,
}

impl Status {
    /// The status as the result spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Deployed => "deployed",
            Status::Unchanged => "unchanged",
            Status::Pending => "pending",
            Status::Submitted => "submitted",
            Status::Planned => "planned",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// An error in a result: the function's own lower-case code, or the CDN's code passed through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub retryable: bool,
    /// The request field at fault, for an invalid request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why, in a word, when the code alone does not say (a `certificate_source` error:
    /// `not_found`, `access_denied`, `bad_json_key`, `key_mismatch`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorInfo {
    /// An error with one of the function's own codes, retryable as the code is by default
    /// ([`ErrorCode::retryable`]; [`Self::with_retryable`] where a case differs).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            retryable: code.retryable(),
            code,
            message: message.into(),
            http_status: None,
            field: None,
            reason: None,
        }
    }

    /// An error with a code an upstream service gave (`CDN.0170`, a chat tool's number), passed
    /// through unchanged; whether it is retryable is the caller's knowledge of that service.
    pub fn upstream(code: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self::new(ErrorCode::Other(code.to_string()), message).with_retryable(retryable)
    }

    /// The same error, retryable or not whatever its code's default.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The exit code of a run that ends with this error before any domain was tried: 2 for a
    /// request or setup at fault, 1 for an outage (a store that may answer next time).
    pub fn exit_code(&self) -> i32 {
        if self.code.is_invalid() && !(self.retryable && self.code.is_store()) {
            EXIT_INVALID
        } else {
            EXIT_NOT_OK
        }
    }

    /// The same error, with its reason word.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// The same error, naming the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// What the edge serves for one domain, or why it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EdgeReport {
    /// The address the handshake went to (`203.0.113.7:443`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Whether the served leaf is the certificate of this run; `null` when the run's certificate
    /// is not known by its bytes (a Certificate Manager id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serves_new_certificate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    #[serde(skip)]
    pub not_after_unix: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl EdgeReport {
    /// The edge was read and serves another certificate than this run's.
    pub fn is_stale(&self) -> bool {
        self.serves_new_certificate == Some(false)
    }
}

/// What happened to one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainResult {
    pub domain: String,
    pub status: Status,
    pub elapsed_ms: u64,
    pub api_calls: u32,
    /// The CDN's `X-Request-Id` of the domain's calls, the first few.
    pub request_ids: Vec<String>,
    /// How many more request ids there were.
    #[serde(skip_serializing_if = "is_zero")]
    pub request_ids_omitted: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// When the certificate the domain served before the run expires (RFC 3339); `null` when
    /// it was not read or served none.
    pub previous_not_after: Option<String>,
    /// The domain still serves, after the run, a certificate that expires within
    /// `options.warn_days`.
    pub expiring: bool,
    /// [`Self::previous_not_after`] in unix seconds.
    #[serde(skip)]
    pub previous_not_after_unix: Option<i64>,
    /// What the domain's CDN edge served after the run (`options.verify_edge`); boxed, as most
    /// runs have none and a result may hold 10 000 domains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<Box<EdgeReport>>,
    /// Settings a write changed that the request did not ask to change, each with its value
    /// before and after: written back at once (the domain `deployed`), or not (`failed`,
    /// `settings_changed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_changed: Vec<SettingChange>,
}

/// One setting that differs between two reads of a domain, normalized (`null`: off, or the
/// documented default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub setting: &'static str,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl DomainResult {
    /// A domain that was not attempted.
    pub fn skipped(domain: &str, error: ErrorInfo) -> Self {
        Self {
            domain: domain.to_string(),
            status: Status::Skipped,
            elapsed_ms: 0,
            api_calls: 0,
            request_ids: Vec::new(),
            request_ids_omitted: 0,
            message: None,
            error: Some(error),
            previous_not_after: None,
            expiring: false,
            previous_not_after_unix: None,
            edge: None,
            settings_changed: Vec::new(),
        }
    }

    /// Records the expiry of the certificate the domain served before the run.
    pub fn with_previous(mut self, not_after: Option<i64>) -> Self {
        self.previous_not_after = not_after.map(crate::cert::rfc3339);
        self.previous_not_after_unix = not_after;
        self
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Flags the domains that still serve, after the run, a certificate expiring before `horizon`
/// (unix seconds): what the edge served where it was read, else the new one where it is live
/// (`deployed`, `unchanged`), the previous one everywhere else. `new_not_after` is `None` when
/// the new certificate's expiry is not known (a Certificate Manager certificate).
pub fn mark_expiring(domains: &mut [DomainResult], new_not_after: Option<i64>, horizon: i64) {
    for d in domains {
        if let Some(t) = d.edge.as_ref().and_then(|e| e.not_after_unix) {
            d.expiring = t < horizon;
            continue;
        }
        let served = match d.status {
            Status::Deployed => new_not_after,
            Status::Unchanged => new_not_after.or(d.previous_not_after_unix),
            _ => d.previous_not_after_unix,
        };
        d.expiring = served.is_some_and(|t| t < horizon);
    }
}

/// Counts per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub deployed: usize,
    pub unchanged: usize,
    pub pending: usize,
    pub submitted: usize,
    pub planned: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Domains whose edge still served another certificate (only when the edge was checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_stale: Option<usize>,
}

impl Summary {
    /// Counts the statuses of `domains`.
    pub fn of(domains: &[DomainResult]) -> Self {
        let mut s = Summary {
            total: domains.len(),
            ..Default::default()
        };
        for d in domains {
            *match d.status {
                Status::Deployed => &mut s.deployed,
                Status::Unchanged => &mut s.unchanged,
                Status::Pending => &mut s.pending,
                Status::Submitted => &mut s.submitted,
                Status::Planned => &mut s.planned,
                Status::Failed => &mut s.failed,
                Status::Skipped => &mut s.skipped,
            } += 1;
        }
        if domains.iter().any(|d| d.edge.is_some()) {
            s.edge_stale = Some(
                domains
                    .iter()
                    .filter(|d| d.edge.as_ref().is_some_and(|e| e.is_stale()))
                    .count(),
            );
        }
        s
    }
}

/// What a fully successful run ends in, which decides `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunMode {
    #[default]
    Deploy,
    DryRun,
    NoWait,
}

/// `ok`: every domain ended in a success status of the run's mode (and there is at least one).
pub fn is_ok(domains: &[DomainResult], mode: RunMode) -> bool {
    !domains.is_empty()
        && domains.iter().all(|d| {
            d.status == Status::Unchanged
                // Without waiting, a write that had to be proved was waited for.
                || (mode == RunMode::NoWait && d.status == Status::Deployed)
                || d.status
                    == match mode {
                        RunMode::Deploy => Status::Deployed,
                        RunMode::DryRun => Status::Planned,
                        RunMode::NoWait => Status::Submitted,
                    }
        })
}

/// The certificate block of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scm_certificate_id: Option<String>,
    /// The store it was read from (`certificate_source`), described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<CertificateInfo>,
    /// What Certificate Manager says of an SCM certificate (its names and expiry).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub scm: Option<crate::scm::ScmFacts>,
    /// How the chain was judged: `verified: builds to `ISRG Root X1` (public web roots)`,
    /// `not checked (options.trust: any)`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
    /// What was changed from the chain as sent, to serve it as the CDN should (reordered, a
    /// self-signed root or a duplicate left out); absent when nothing was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

/// The whole answer of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployResult {
    pub ok: bool,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSummary>,
    pub elapsed_ms: u64,
    pub budget_ms: u64,
    pub domains: Vec<DomainResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The domains a follow-up run should take: `pending`, or `skipped` for want of time or
    /// because the CDN was throttling or unavailable (a Step Functions `Choice` reads it).
    pub pending_domains: Vec<String>,
    /// The run told briefly, as the notifications tell it (for a caller that tells people
    /// itself, such as the Step Functions workflow's one message for every account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<RunDigest>,
    /// What each notification channel did with this run's digest; empty when none was due.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationOutcome>,
    /// The run's mode, which decides `ok` (and whether a dry run notifies).
    #[serde(skip)]
    pub mode: RunMode,
}

/// A run's digest: its subject line and plain text (a few KiB at most).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunDigest {
    pub subject: String,
    pub text: String,
}

/// One notification channel's delivery of a run's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationOutcome {
    /// `sns`, `smn` or `webhook`.
    pub channel: String,
    /// The webhook's format (`slack`, `feishu`, `dingtalk`, `wecom`, `json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub ok: bool,
    /// Tries made (a failed one is retried, a bounded number of times, inside the budget).
    pub attempts: u32,
    /// The id the service gave the message (SNS `MessageId`, SMN `message_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl DeployResult {
    /// Assembles a result; `ok` and the summary are derived from the domains.
    pub fn new(
        domains: Vec<DomainResult>,
        mode: RunMode,
        certificate: Option<CertificateSummary>,
        elapsed_ms: u64,
        budget_ms: u64,
        error: Option<ErrorInfo>,
    ) -> Self {
        Self {
            ok: error.is_none() && is_ok(&domains, mode),
            summary: Summary::of(&domains),
            pending_domains: follow_up(&domains),
            digest: None,
            certificate,
            elapsed_ms,
            budget_ms,
            domains,
            error,
            notifications: Vec::new(),
            mode,
        }
    }
}

/// The domains another run should take: written but not confirmed, or not attempted for a
/// reason that passes (the budget, throttling, an unavailable CDN).
fn follow_up(domains: &[DomainResult]) -> Vec<String> {
    domains
        .iter()
        .filter(|d| match d.status {
            Status::Pending => true,
            // The CDN's own code may stand for ours (`APIGW.0308` is throttling): its status says.
            Status::Skipped => d.error.as_ref().is_some_and(|e| {
                matches!(
                    e.code,
                    ErrorCode::BudgetExhausted
                        | ErrorCode::Throttled
                        | ErrorCode::UpstreamUnavailable
                ) || e.http_status.is_some_and(|s| s == 429 || s >= 500)
            }),
            _ => false,
        })
        .map(|d| d.domain.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_domains_are_those_a_follow_up_should_take() {
        let skipped = |code: &str| {
            DomainResult::skipped(
                "s.example.com",
                ErrorInfo::new(ErrorCode::parse(code), "m").with_retryable(true),
            )
        };
        let named = |mut d: DomainResult, name: &str| {
            d.domain = name.into();
            d
        };
        let domains = vec![
            named(d(Status::Pending), "pending"),
            named(skipped("budget_exhausted"), "budget"),
            named(skipped("throttled"), "throttled"),
            named(skipped("upstream_unavailable"), "outage"),
            named(skipped("domain_not_covered"), "not-covered"),
            named(skipped("auth_failed"), "auth"),
            named(
                DomainResult::skipped(
                    "x",
                    ErrorInfo {
                        http_status: Some(429),
                        ..ErrorInfo::upstream("APIGW.0308", "over ratelimit", true)
                    },
                ),
                "cdn-throttled",
            ),
            named(d(Status::Failed), "failed"),
            named(d(Status::Deployed), "deployed"),
        ];
        let r = DeployResult::new(domains, RunMode::Deploy, None, 0, 0, None);
        assert_eq!(
            r.pending_domains,
            vec!["pending", "budget", "throttled", "outage", "cdn-throttled"]
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["pending_domains"][3], "outage");
        let none = DeployResult::new(vec![d(Status::Deployed)], RunMode::Deploy, None, 0, 0, None);
        assert_eq!(
            serde_json::to_value(&none).unwrap()["pending_domains"],
            serde_json::json!([])
        );
    }

    #[test]
    fn expiring_looks_at_the_certificate_served_after_the_run() {
        let horizon = 1_000;
        let d = |status, previous: Option<i64>| {
            DomainResult {
                status,
                ..DomainResult::skipped("a.example.com", ErrorInfo::upstream("x", "x", false))
            }
            .with_previous(previous)
        };
        let mut domains = vec![
            d(Status::Deployed, Some(500)),
            d(Status::Failed, Some(500)),
            d(Status::Skipped, Some(1_500)),
            d(Status::Pending, Some(999)),
            d(Status::Unchanged, Some(500)),
            d(Status::Failed, None),
        ];
        mark_expiring(&mut domains, Some(2_000), horizon);
        let flags: Vec<bool> = domains.iter().map(|d| d.expiring).collect();
        assert_eq!(flags, vec![false, true, false, true, false, false]);
        // A Certificate Manager certificate: its expiry is not known, an unchanged domain's
        // previous one is the same certificate.
        mark_expiring(&mut domains, None, horizon);
        assert!(domains[4].expiring);
        assert!(!domains[0].expiring);
        assert_eq!(
            domains[0].previous_not_after.as_deref(),
            Some("1970-01-01T00:08:20Z")
        );
    }

    fn d(status: Status) -> DomainResult {
        DomainResult {
            status,
            ..DomainResult::skipped("a.example.com", ErrorInfo::upstream("x", "y", false))
        }
    }

    #[test]
    fn ok_depends_on_mode() {
        let ds = vec![d(Status::Deployed), d(Status::Unchanged)];
        assert!(is_ok(&ds, RunMode::Deploy));
        assert!(!is_ok(&ds, RunMode::DryRun));
        assert!(is_ok(
            &[d(Status::Planned), d(Status::Unchanged)],
            RunMode::DryRun
        ));
        assert!(is_ok(&[d(Status::Submitted)], RunMode::NoWait));
        assert!(!is_ok(
            &[d(Status::Deployed), d(Status::Pending)],
            RunMode::Deploy
        ));
        assert!(!is_ok(&[], RunMode::Deploy));
    }

    #[test]
    fn summary_counts() {
        let ds = vec![
            d(Status::Deployed),
            d(Status::Failed),
            d(Status::Failed),
            d(Status::Skipped),
        ];
        let s = Summary::of(&ds);
        assert_eq!(
            (s.total, s.deployed, s.failed, s.skipped, s.pending),
            (4, 1, 2, 1, 0)
        );
        let r = DeployResult::new(ds, RunMode::Deploy, None, 1, 2, None);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["summary"]["failed"], 2);
        assert_eq!(json["domains"][1]["status"], "failed");
        assert!(json.get("error").is_none());
    }
}
