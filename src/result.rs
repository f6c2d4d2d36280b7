//! The result a run returns: one entry per requested domain, in request order, each with a final
//! status, plus a summary. Pure data and the rules that derive `ok` and the counts.

use serde::Serialize;

use crate::cert::CertificateInfo;

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
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub retryable: bool,
    /// The request field at fault, for an invalid request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorInfo {
    /// An error made by the function itself.
    pub fn new(code: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
            http_status: None,
            retryable,
            field: None,
        }
    }

    /// The same error, naming the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// What happened to one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainResult {
    pub domain: String,
    pub status: Status,
    pub elapsed_ms: u64,
    pub api_calls: u32,
    pub request_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
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
            message: None,
            error: Some(error),
        }
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
        s
    }
}

/// What a fully successful run ends in, which decides `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Deploy,
    DryRun,
    NoWait,
}

/// `ok`: every domain ended in a success status of the run's mode (and there is at least one).
pub fn is_ok(domains: &[DomainResult], mode: RunMode) -> bool {
    !domains.is_empty()
        && domains.iter().all(|d| {
            d.status == Status::Unchanged
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
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub leaf: Option<CertificateInfo>,
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
            certificate,
            elapsed_ms,
            budget_ms,
            domains,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(status: Status) -> DomainResult {
        DomainResult {
            status,
            ..DomainResult::skipped("a.example.com", ErrorInfo::new("x", "y", false))
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
