//! The vocabulary of a domain's deployment, shared by its flow, the driver and the shared
//! readers and writers: how far a domain got ([`Phase`], [`Progress`]), how it ended
//! ([`Outcome`]), and the pure rules that turn those into its result when it ends or when the
//! budget cuts it short.

use tokio::time::Instant;
use tracing::info;

use super::settings::Change;
use crate::huawei::error::{CdnError, ErrorKind};
use crate::result::{DomainResult, ErrorCode, ErrorInfo, Status};

/// How far a domain got; decides its status when the budget ends mid-way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    #[default]
    Queued,
    Reading,
    /// A write left the process and its answer is unknown (timeout, 5xx, reset): it may be
    /// applied.
    MaybeWritten,
    Written,
}

/// A domain's bookkeeping, shared with the driver so that a domain cut short by the deadline
/// still reports what happened.
#[derive(Debug, Default)]
pub struct Progress {
    pub started: Option<Instant>,
    /// When the write was accepted: polls must be newer than this.
    pub written_at: Option<Instant>,
    pub finished: Option<Instant>,
    pub phase: Phase,
    pub api_calls: u32,
    pub kept_ids: Vec<String>,
    pub poll_ids: Vec<String>,
    pub last_status: Option<String>,
    /// When the certificate the domain served before the run expires (unix seconds).
    pub previous_not_after: Option<i64>,
    /// The CDN's refusal of the domain's last write (not applied), with the status it means if
    /// the budget ends before another write: a refused batch entry is `failed` with the CDN's
    /// reason, a throttled or busy write `skipped`.
    pub refusal: Option<(Status, ErrorInfo)>,
}

/// A domain's ending, before the bookkeeping is added.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub message: Option<String>,
    pub error: Option<ErrorInfo>,
    /// Settings a write changed that the request did not ask to change (written back, or not).
    pub changes: Vec<Change>,
}

impl Outcome {
    pub fn ok(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Some(message.into()),
            error: None,
            changes: Vec::new(),
        }
    }

    pub fn err(status: Status, error: ErrorInfo) -> Self {
        Self {
            status,
            message: None,
            error: Some(error),
            changes: Vec::new(),
        }
    }
}

/// What a call was for, which decides where its request id is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Read,
    Write,
    Poll,
}

/// The most request ids a domain's result lists (the rest are counted): a result for 10 000
/// domains must stay well under Lambda's 6 MB answer.
pub const MAX_REQUEST_IDS: usize = 6;

/// The domain's result: its outcome with the bookkeeping, logged as the domain's last event.
pub fn result_of(domain: &str, p: &Progress, outcome: Outcome) -> DomainResult {
    let mut request_ids: Vec<String> = Vec::new();
    let mut omitted = 0u32;
    for id in p.kept_ids.iter().chain(&p.poll_ids) {
        if request_ids.contains(id) {
            continue;
        }
        if request_ids.len() < MAX_REQUEST_IDS {
            request_ids.push(id.clone());
        } else {
            omitted += 1;
        }
    }
    let elapsed_ms = match (p.started, p.finished) {
        (Some(s), Some(f)) => f.duration_since(s).as_millis() as u64,
        (Some(s), None) => s.elapsed().as_millis() as u64,
        _ => 0,
    };
    let detail = outcome
        .message
        .as_deref()
        .or(outcome.error.as_ref().map(|e| e.message.as_str()));
    info!(domain = %domain, status = outcome.status.as_str(), api_calls = p.api_calls,
          elapsed_ms, code = outcome.error.as_ref().map(|e| e.code.as_str()), detail, "domain outcome");
    DomainResult {
        domain: domain.to_string(),
        status: outcome.status,
        elapsed_ms,
        api_calls: p.api_calls,
        request_ids,
        request_ids_omitted: omitted,
        message: outcome.message,
        error: outcome.error,
        previous_not_after: None,
        expiring: false,
        previous_not_after_unix: None,
        edge: None,
        settings_changed: outcome.changes,
    }
    .with_previous(p.previous_not_after)
}

/// The status of a domain whose run the deadline cut short: what happened, as far as it got.
pub fn out_of_budget(p: &Progress) -> Outcome {
    let last = p
        .last_status
        .as_deref()
        .map(|s| format!(" (last read: {s})"))
        .unwrap_or_default();
    match (p.phase, &p.refusal) {
        (Phase::Written, _) => Outcome::ok(
            Status::Pending,
            format!("write accepted; not confirmed online within the time budget{last}; run again to confirm"),
        ),
        (Phase::MaybeWritten, _) => Outcome::ok(
            Status::Pending,
            format!("a write was sent but its answer was lost before the time budget ended{last}; run again to confirm"),
        ),
        (_, Some((status, error))) => {
            let mut error = error.clone();
            error.message = format!(
                "{} (not written again before the time budget ended)",
                error.message
            );
            Outcome::err(*status, error)
        }
        (Phase::Queued, None) => Outcome::err(
            Status::Skipped,
            ErrorInfo::new(ErrorCode::BudgetExhausted, "the time budget was spent before this domain's turn"),
        ),
        (Phase::Reading, None) => Outcome::err(
            Status::Skipped,
            ErrorInfo::new(ErrorCode::BudgetExhausted, format!("the time budget was spent before a write was sent{last}")),
        ),
    }
}

/// Maps a final call error to the domain's outcome. Once a write may have been applied the domain
/// is never reported failed: it is `pending`, with the error attached.
pub fn failure(e: &CdnError, phase: Phase) -> Outcome {
    if phase >= Phase::MaybeWritten {
        // A call this run did not send (the budget, an earlier auth failure) says nothing of
        // the write that was: no "not sent" error beside "sent".
        let error = (e.kind() != ErrorKind::NotSent).then(|| error_info(e));
        return Outcome {
            status: Status::Pending,
            message: Some(
                "the write was sent but could not be confirmed; run again to confirm".into(),
            ),
            error,
            changes: Vec::new(),
        };
    }
    let info = error_info(e);
    let status = match e.kind() {
        ErrorKind::Auth | ErrorKind::Rejected => Status::Failed,
        _ => Status::Skipped,
    };
    Outcome::err(status, info)
}

/// The CDN's code that says it may not read the account's Certificate Manager certificates.
pub const CODE_SCM_NOT_DELEGATED: &str = "CDN.00010198";

/// A call error as the result reports it: the CDN's own code when it gave one, else the
/// function's (`auth_failed`, `throttled`, `upstream_unavailable`, `budget_exhausted`, …).
pub fn error_info(e: &CdnError) -> ErrorInfo {
    let own = match e.kind() {
        ErrorKind::Auth => ErrorCode::AuthFailed,
        ErrorKind::NotSent if matches!(e, CdnError::AuthStopped) => ErrorCode::AuthFailed,
        ErrorKind::NotSent | ErrorKind::Busy => ErrorCode::BudgetExhausted,
        ErrorKind::Throttled => ErrorCode::Throttled,
        ErrorKind::Server | ErrorKind::Transport => ErrorCode::UpstreamUnavailable,
        ErrorKind::Rejected => ErrorCode::UpstreamRejected,
    };
    let code = match (e, e.code()) {
        (CdnError::Decode { .. }, _) => ErrorCode::UpstreamUnavailable,
        (_, Some(code)) => ErrorCode::parse(code),
        (_, None) => own,
    };
    let message = if e.kind() == ErrorKind::Auth {
        format!("authentication failed ({e}); every call of this run was stopped")
    } else if code == CODE_SCM_NOT_DELEGATED {
        format!(
            "{e}. The CDN may not read this account's Cloud Certificate Manager (SCM) \
             certificates: grant it that access once in the CDN console (the authorization it \
             asks for when an SCM certificate is first chosen for a domain), then run again; or \
             deploy the certificate itself (certificate + private_key)"
        )
    } else {
        e.to_string()
    };
    ErrorInfo {
        code,
        message,
        http_status: e.http_status(),
        retryable: e.retryable(),
        field: None,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(phase: Phase) -> Progress {
        Progress {
            phase,
            ..Default::default()
        }
    }

    #[test]
    fn the_deadline_reports_what_happened() {
        let status = |p: &Progress| out_of_budget(p).status;
        assert_eq!(status(&progress(Phase::Written)), Status::Pending);
        assert_eq!(status(&progress(Phase::MaybeWritten)), Status::Pending);
        let queued = out_of_budget(&progress(Phase::Queued));
        assert_eq!(queued.status, Status::Skipped);
        assert_eq!(queued.error.unwrap().code, "budget_exhausted");
        let reading = out_of_budget(&progress(Phase::Reading));
        assert!(reading
            .error
            .unwrap()
            .message
            .contains("before a write was sent"));
        // Refused by the CDN, and not written again in time: its reason, never "not sent".
        let mut refused = progress(Phase::Reading);
        refused.refusal = Some((
            Status::Failed,
            ErrorInfo::new(ErrorCode::UpstreamRejected, "internal error, please retry"),
        ));
        let o = out_of_budget(&refused);
        assert_eq!(o.status, Status::Failed);
        let e = o.error.unwrap();
        assert!(
            e.message.starts_with("internal error, please retry"),
            "{}",
            e.message
        );
        assert!(e.retryable);
        // A write answered after a refusal: what the answer says counts.
        refused.phase = Phase::Written;
        assert_eq!(out_of_budget(&refused).status, Status::Pending);
    }

    #[test]
    fn a_write_that_was_sent_never_says_not_sent() {
        let o = failure(&CdnError::BudgetSpent, Phase::Written);
        assert_eq!(o.status, Status::Pending);
        assert!(o.error.is_none(), "{:?}", o.error);
        let o = failure(&CdnError::BudgetSpent, Phase::Reading);
        assert_eq!(o.error.unwrap().code, "budget_exhausted");
    }

    #[test]
    fn request_ids_are_capped_with_a_count() {
        let mut p = progress(Phase::Written);
        p.kept_ids = (0..4).map(|i| format!("k{i}")).collect();
        p.poll_ids = (0..5).map(|i| format!("p{i}")).collect();
        p.poll_ids.push("k0".into());
        let r = result_of("a.example.com", &p, Outcome::ok(Status::Deployed, "ok"));
        assert_eq!(r.request_ids, ["k0", "k1", "k2", "k3", "p0", "p1"]);
        assert_eq!(r.request_ids_omitted, 3);
    }

    #[test]
    fn the_scm_delegation_error_says_what_to_do() {
        let e = CdnError::Api {
            http_status: 400,
            code: CODE_SCM_NOT_DELEGATED.into(),
            message: "insufficient permission to access scm".into(),
            request_id: None,
            retry_after: None,
        };
        let info = error_info(&e);
        assert_eq!(info.code, CODE_SCM_NOT_DELEGATED);
        assert!(info.message.contains("CDN console"), "{}", info.message);
    }
}
