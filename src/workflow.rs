//! The Step Functions workflow's side of a run (SPEC section 11), pure. Each request the
//! workflow sends carries `"workflow": {"attempt": n, "tally": {...}}`; such a run
//!
//! - answers compactly ([`compact`]): a Step Functions state holds at most 256 KiB, and an
//!   account's full result passes that near 675 domains (`States.DataLimitExceeded`, which no
//!   `Catch` sees on AWS);
//! - leaves telling people to the workflow's one message (the function's own channels stay
//!   quiet);
//! - treats the domains an earlier attempt wrote but did not confirm ([`Tally::written`]) as
//!   written by this run: live with the certificate they are `deployed`, still configuring
//!   `pending`, as after a write whose answer was lost;
//! - adds itself to the account's [`Tally`], whose digest tells every attempt.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ErrorCode;
use crate::result::{DeployResult, DomainResult, ErrorInfo, RunMode, Status, Summary};

/// What the workflow says of the run it asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRun {
    /// 1 for an account's first run, then one more per follow-up.
    #[serde(default = "first")]
    pub attempt: u32,
    /// The account's tally of the attempts before this one (absent on the first).
    #[serde(default)]
    pub tally: Option<Tally>,
}

fn first() -> u32 {
    1
}

impl WorkflowRun {
    /// The domains an earlier attempt wrote and did not see live.
    pub fn written_before(&self) -> BTreeSet<String> {
        self.tally
            .as_ref()
            .map(|t| t.written.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// An account's outcome over every attempt so far: final statuses are counted once, in the
/// attempt that reached them; `pending` counts the domains still to take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tally {
    pub attempts: u32,
    /// The domains of the account's first run.
    pub total: usize,
    pub deployed: usize,
    pub unchanged: usize,
    pub submitted: usize,
    pub planned: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Still to take: written but not confirmed, or not attempted for a reason that passes.
    pub pending: usize,
    /// Domains whose write an attempt saw accepted and not yet live (the next attempt
    /// confirms them), at most [`LIST_BYTES`] of names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<String>,
    /// Final problems of earlier attempts (failed, skipped for good), which no follow-up takes
    /// again: the account's digest still names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub problems_omitted: usize,
}

/// A domain that ended badly in an earlier attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub domain: String,
    /// `failed` or `skipped`.
    pub status: String,
    pub code: String,
    pub message: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Names carried in one list of a compact answer (pending domains, written domains), in bytes.
pub const LIST_BYTES: usize = 40 * 1024;
/// The domain entries of a compact answer, serialized, in bytes.
const DOMAINS_BYTES: usize = 64 * 1024;
/// Earlier problems kept in a tally.
const PROBLEMS: usize = 50;
/// A problem's message, in characters.
const PROBLEM_CHARS: usize = 200;

impl Tally {
    /// The tally after `result`, the run of `attempt` following `before`.
    pub fn after(before: Option<&Tally>, result: &DeployResult) -> Tally {
        let prev = before.cloned().unwrap_or_default();
        let s = &result.summary;
        let carried: BTreeSet<&str> = result.pending_domains.iter().map(String::as_str).collect();
        let skipped_for_good = result
            .domains
            .iter()
            .filter(|d| d.status == Status::Skipped && !carried.contains(d.domain.as_str()))
            .count();
        // Domains of the last attempt's list that did not fit this run's request stay to take.
        let untaken = prev.pending.saturating_sub(s.total);
        let total = if before.is_some() {
            prev.total
        } else {
            s.total
        };
        let mut problems = prev.problems;
        let mut problems_omitted = prev.problems_omitted;
        for d in result.domains.iter().filter(|d| {
            d.status == Status::Failed
                || (d.status == Status::Skipped && !carried.contains(d.domain.as_str()))
        }) {
            if problems.len() < PROBLEMS {
                problems.push(Problem::of(d));
            } else {
                problems_omitted += 1;
            }
        }
        let written = result
            .domains
            .iter()
            .filter(|d| d.status == Status::Pending)
            .map(|d| d.domain.clone());
        Tally {
            attempts: prev.attempts + 1,
            total,
            deployed: prev.deployed + s.deployed,
            unchanged: prev.unchanged + s.unchanged,
            submitted: prev.submitted + s.submitted,
            planned: prev.planned + s.planned,
            failed: prev.failed + s.failed,
            skipped: prev.skipped + skipped_for_good,
            pending: result.pending_domains.len() + untaken,
            written: capped(written, LIST_BYTES).0,
            problems,
            problems_omitted,
        }
    }

    /// Whether the whole account is live (in a dry run: planned; without waiting: submitted),
    /// `run` being its last attempt.
    pub fn ok(&self, run: &DeployResult) -> bool {
        let done = match run.mode {
            RunMode::Deploy => self.deployed,
            RunMode::DryRun => self.planned,
            RunMode::NoWait => self.submitted + self.deployed,
        };
        run.error.is_none() && self.total > 0 && done + self.unchanged == self.total
    }

    /// The whole account as one result, for its digest: the tally's counts, this run's domains
    /// and the earlier attempts' problems.
    fn as_result(&self, run: &DeployResult) -> DeployResult {
        let mut domains: Vec<DomainResult> = self.problems.iter().map(Problem::to_result).collect();
        // Only what the digest names: a live domain with nothing to tell is counted, not listed.
        let told = |d: &&DomainResult| {
            !matches!(d.status, Status::Deployed | Status::Unchanged)
                || d.expiring
                || !d.settings_changed.is_empty()
                || d.edge.as_ref().is_some_and(|e| e.is_stale())
        };
        domains.extend(run.domains.iter().filter(told).cloned());
        let summary = Summary {
            total: self.total,
            deployed: self.deployed,
            unchanged: self.unchanged,
            pending: self.pending,
            submitted: self.submitted,
            planned: self.planned,
            failed: self.failed,
            skipped: self.skipped,
            edge_stale: run.summary.edge_stale,
        };
        DeployResult {
            ok: self.ok(run),
            summary,
            certificate: run.certificate.clone(),
            elapsed_ms: run.elapsed_ms,
            budget_ms: run.budget_ms,
            domains,
            error: run.error.clone(),
            pending_domains: Vec::new(),
            digest: None,
            notifications: Vec::new(),
            mode: run.mode,
        }
    }
}

impl Problem {
    fn of(d: &DomainResult) -> Self {
        let (code, message) = match &d.error {
            Some(e) => (e.code.as_str().to_string(), e.message.clone()),
            None => (String::new(), d.message.clone().unwrap_or_default()),
        };
        Problem {
            domain: d.domain.clone(),
            status: d.status.as_str().to_string(),
            code,
            message: message.chars().take(PROBLEM_CHARS).collect(),
        }
    }

    fn to_result(&self) -> DomainResult {
        let error = ErrorInfo::new(ErrorCode::parse(&self.code), self.message.clone())
            .with_retryable(false);
        let mut d = DomainResult::skipped(&self.domain, error);
        if self.status == "failed" {
            d.status = Status::Failed;
        }
        d
    }
}

/// The account's digest over every attempt, from `tally` and the run that made it.
pub fn account_digest(tally: &Tally, run: &DeployResult) -> crate::notify::digest::Digest {
    let mut digest = crate::notify::digest::digest(&tally.as_result(run));
    if tally.attempts > 1 {
        digest.head.push(format!(
            "{} attempts (this one took {} domains)",
            tally.attempts, run.summary.total
        ));
    }
    digest
}

/// `names` in order while they fit `bytes` (as JSON strings), and how many were left out.
fn capped(names: impl Iterator<Item = String>, bytes: usize) -> (Vec<String>, usize) {
    let (mut kept, mut left, mut used) = (Vec::new(), 0, 0);
    for name in names {
        let n = name.len() + 3;
        if left == 0 && used + n <= bytes {
            used += n;
            kept.push(name);
        } else {
            left += 1;
        }
    }
    (kept, left)
}

/// The compact answer of a workflow run: the result without the domains that ended live
/// (`deployed`, `unchanged`), its lists cut to a bounded size with a count of what was left
/// out, the account's tally and whether the whole account is live (`account_ok`). Whatever the
/// account's size, it stays under about 200 KiB.
pub fn compact(result: &DeployResult, tally: &Tally) -> Value {
    let mut out = serde_json::to_value(ResultHead::of(result)).unwrap_or(Value::Null);
    let mut used = 0;
    let mut shown = Vec::new();
    let mut left = 0;
    for d in result
        .domains
        .iter()
        .filter(|d| !matches!(d.status, Status::Deployed | Status::Unchanged))
    {
        let entry = serde_json::to_value(d).unwrap_or(Value::Null);
        let n = entry.to_string().len();
        if left == 0 && used + n <= DOMAINS_BYTES {
            used += n;
            shown.push(entry);
        } else {
            left += 1;
        }
    }
    let (pending, pending_left) = capped(result.pending_domains.iter().cloned(), LIST_BYTES);
    out["domains"] = Value::Array(shown);
    if left > 0 {
        out["domains_omitted"] = json!(left);
    }
    out["pending_domains"] = json!(pending);
    if pending_left > 0 {
        out["pending_domains_omitted"] = json!(pending_left);
    }
    out["tally"] = serde_json::to_value(tally).unwrap_or(Value::Null);
    out["account_ok"] = json!(tally.ok(result));
    out
}

/// The fields of a result a compact answer keeps as they are.
#[derive(Serialize)]
struct ResultHead<'a> {
    ok: bool,
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<&'a crate::result::CertificateSummary>,
    elapsed_ms: u64,
    budget_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a crate::result::RunDigest>,
}

impl<'a> ResultHead<'a> {
    fn of(r: &'a DeployResult) -> Self {
        ResultHead {
            ok: r.ok,
            summary: &r.summary,
            certificate: r.certificate.as_ref(),
            elapsed_ms: r.elapsed_ms,
            budget_ms: r.budget_ms,
            error: r.error.as_ref(),
            digest: r.digest.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ErrorCode;

    fn domain(name: &str, status: Status, code: Option<ErrorCode>) -> DomainResult {
        let mut d = DomainResult::skipped(
            name,
            ErrorInfo::new(ErrorCode::InternalError, "").with_retryable(false),
        );
        d.status = status;
        d.error =
            code.map(|c| ErrorInfo::new(c, format!("{name} went wrong")).with_retryable(false));
        d
    }

    fn run(domains: Vec<DomainResult>) -> DeployResult {
        DeployResult::new(domains, RunMode::Deploy, None, 1000, 60_000, None)
    }

    #[test]
    fn an_account_entry_counts_every_attempt() {
        let first = run(vec![
            domain("a.example.com", Status::Deployed, None),
            domain("b.example.com", Status::Deployed, None),
            domain("c.example.com", Status::Pending, None),
            domain(
                "d.example.com",
                Status::Skipped,
                Some(ErrorCode::BudgetExhausted),
            ),
            domain(
                "e.example.com",
                Status::Failed,
                Some(ErrorCode::ConfigureFailed),
            ),
            domain(
                "f.example.com",
                Status::Skipped,
                Some(ErrorCode::DomainNotCovered),
            ),
        ]);
        let t1 = Tally::after(None, &first);
        assert_eq!(
            (
                t1.attempts,
                t1.total,
                t1.deployed,
                t1.failed,
                t1.skipped,
                t1.pending
            ),
            (1, 6, 2, 1, 1, 2)
        );
        assert_eq!(t1.written, ["c.example.com"], "only a write seen accepted");
        assert_eq!(t1.problems.len(), 2);
        // The follow-up takes c and d: c (written before) is deployed, d was live already.
        let second = run(vec![
            domain("c.example.com", Status::Deployed, None),
            domain("d.example.com", Status::Unchanged, None),
        ]);
        let t2 = Tally::after(Some(&t1), &second);
        assert_eq!(
            (t2.attempts, t2.total, t2.deployed, t2.unchanged, t2.pending),
            (2, 6, 3, 1, 0)
        );
        assert!(t2.written.is_empty());
        let digest = account_digest(&t2, &second);
        assert_eq!(
            digest.subject,
            "cdn-cert-deploy: 1 failed, 1 skipped of 6 domains"
        );
        assert!(
            digest
                .foot
                .starts_with("6 domains: 3 deployed, 1 unchanged"),
            "{}",
            digest.foot
        );
        let named: Vec<&str> = digest.items.iter().map(|i| i.domain.as_str()).collect();
        assert_eq!(
            named,
            ["e.example.com", "f.example.com"],
            "earlier problems are told"
        );
        assert!(digest.head.iter().any(|l| l.starts_with("2 attempts")));
    }

    #[test]
    fn an_account_all_live_after_a_follow_up_says_so() {
        let t1 = Tally::after(
            None,
            &run(vec![
                domain("a.example.com", Status::Deployed, None),
                domain("b.example.com", Status::Pending, None),
            ]),
        );
        let second = run(vec![domain("b.example.com", Status::Deployed, None)]);
        let t2 = Tally::after(Some(&t1), &second);
        assert_eq!(
            account_digest(&t2, &second).subject,
            "cdn-cert-deploy: all 2 live"
        );
        assert!(t2.as_result(&second).ok);
    }

    #[test]
    fn a_compact_answer_of_20_000_domains_stays_small_and_counts_what_it_left_out() {
        let domains: Vec<DomainResult> = (0..20_000)
            .map(|i| {
                let name = format!("domain-{i:05}.a-rather-long-subdomain.example.com");
                match i % 4 {
                    0 => domain(&name, Status::Deployed, None),
                    1 => domain(&name, Status::Failed, Some(ErrorCode::ConfigureFailed)),
                    _ => domain(&name, Status::Pending, None),
                }
            })
            .collect();
        let result = run(domains);
        let tally = Tally::after(None, &result);
        let answer = compact(&result, &tally);
        let size = answer.to_string().len();
        assert!(size < 200 * 1024, "{size} bytes");
        assert_eq!(answer["summary"]["total"], 20_000);
        let shown = answer["domains"].as_array().unwrap().len();
        assert_eq!(
            shown + answer["domains_omitted"].as_u64().unwrap() as usize,
            15_000
        );
        assert!(answer["domains"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] != "deployed"));
        let pending = answer["pending_domains"].as_array().unwrap().len();
        assert_eq!(
            pending + answer["pending_domains_omitted"].as_u64().unwrap() as usize,
            10_000
        );
        assert_eq!(
            tally.pending, 10_000,
            "the tally counts every pending domain"
        );
        assert!(tally.written.len() < 10_000 && !tally.written.is_empty());
        // A follow-up that could take only the listed names leaves the rest counted as pending.
        let second = run(answer["pending_domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| domain(n.as_str().unwrap(), Status::Deployed, None))
            .collect());
        let t2 = Tally::after(Some(&tally), &second);
        assert_eq!(t2.pending, 10_000 - pending);
        assert_eq!(t2.deployed, 5_000 + pending);
    }

    #[test]
    fn the_workflow_field_is_strict() {
        let w: WorkflowRun = serde_json::from_value(json!({"attempt": 2, "tally": {
            "attempts": 1, "total": 2, "deployed": 1, "unchanged": 0, "submitted": 0,
            "planned": 0, "failed": 0, "skipped": 0, "pending": 1, "written": ["b.example.com"]}}))
        .unwrap();
        assert_eq!(w.written_before().len(), 1);
        assert!(serde_json::from_value::<WorkflowRun>(json!({"attempts": 2})).is_err());
        assert_eq!(
            serde_json::from_value::<WorkflowRun>(json!({}))
                .unwrap()
                .attempt,
            1
        );
    }
}
