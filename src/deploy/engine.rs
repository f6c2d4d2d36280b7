//! The async driver: runs every domain as its own task (bounded concurrency), each through read →
//! decide → write → confirm, within one deadline. Decisions come from [`super::decide`]; this
//! module only calls, sleeps and records. A domain's failure, panic or timeout becomes its own
//! result and never touches the others.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{info, warn, Instrument};

use super::batch::Batcher;
use super::board::Board;
use super::decide::{self, Overrides};
use super::domain::DomainCtx;
use super::learn::Learner;
use super::target::Target;
use crate::huawei::cdn::{Answer, CallOptions, CdnClient};
use crate::huawei::error::{CdnError, ErrorKind};
use crate::huawei::model::{ListedDomain, Paged};
use crate::result::{DomainResult, ErrorInfo, Status};

/// Tuning of a run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Domains in flight at once.
    pub concurrency: usize,
    /// Read timeout of one call (capped by what is left of the budget).
    pub request_timeout: Duration,
    /// Attempts of one call before its error is final (each within the budget).
    pub max_attempts: u32,
    /// From this many domains in flight on, reads and polls come from shared sweeps ([`Board`])
    /// and writes are batched ([`Batcher`]).
    pub bulk_threshold: usize,
    /// How often the shared sweeps run (while a domain waits for one).
    pub bulk_interval: Duration,
    /// How long a batch group waits for more domains before it is sent.
    pub batch_linger: Duration,
    /// A batch group is sent early when no domain joined it for this long.
    pub batch_idle: Duration,
    /// Domains read in full around their batched write to learn whether the batch call keeps
    /// TLS versions and OCSP stapling ([`super::learn`]).
    pub probe_domains: usize,
    /// Groups smaller than this are written domain by domain.
    pub batch_min: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            concurrency: 500,
            request_timeout: Duration::from_secs(20),
            max_attempts: 8,
            bulk_threshold: 20,
            bulk_interval: Duration::from_secs(1),
            batch_linger: Duration::from_secs(2),
            batch_idle: Duration::from_millis(300),
            probe_domains: 10,
            batch_min: 5,
        }
    }
}

/// What every domain of a run shares.
#[derive(Debug)]
pub struct Job {
    pub target: Target,
    pub enterprise_project_id: Option<String>,
    pub force: bool,
    pub dry_run: bool,
    pub wait: bool,
    pub overrides: Overrides,
}

/// How far a domain got; decides its status when the budget ends mid-way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    #[default]
    Queued,
    Reading,
    /// A write was sent and its answer is unknown (timeout, 5xx, reset): it may be applied.
    MaybeWritten,
    Written,
}

#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) started: Option<Instant>,
    /// When the write was accepted: polls must be newer than this.
    pub(super) written_at: Option<Instant>,
    pub(super) finished: Option<Instant>,
    pub(super) phase: Phase,
    pub(super) api_calls: u32,
    pub(super) kept_ids: Vec<String>,
    pub(super) poll_ids: Vec<String>,
    pub(super) last_status: Option<String>,
    /// When the certificate the domain served before the run expires (unix seconds).
    pub(super) previous_not_after: Option<i64>,
}

/// A domain's ending, before the bookkeeping is added.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) status: Status,
    pub(super) message: Option<String>,
    pub(super) error: Option<ErrorInfo>,
}

impl Outcome {
    pub(super) fn ok(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Some(message.into()),
            error: None,
        }
    }

    pub(super) fn err(status: Status, error: ErrorInfo) -> Self {
        Self {
            status,
            message: None,
            error: Some(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Read,
    Write,
    Poll,
}

/// Deploys `job` to every domain, in order, and returns one result each, in the same order.
pub async fn deploy_all(
    client: Arc<CdnClient>,
    job: Arc<Job>,
    domains: &[String],
    deadline: Instant,
    cfg: EngineConfig,
) -> Vec<DomainResult> {
    let concurrency = cfg.concurrency;
    let cfg = Arc::new(cfg);
    // Shared sweeps and batches pay off only with many domains in flight together.
    let many = domains.len().min(concurrency) >= cfg.bulk_threshold && !job.dry_run;
    let (board, sweeper) = if many {
        let (board, task) = Board::spawn(
            client.clone(),
            job.enterprise_project_id.clone(),
            deadline,
            cfg.clone(),
        );
        (Some(board), Some(task))
    } else {
        (None, None)
    };
    let learner = many.then(|| Learner::new(cfg.probe_domains));
    let batcher = many.then(|| {
        Batcher::spawn(
            client.clone(),
            Arc::new(job.target.clone()),
            job.enterprise_project_id.clone(),
            deadline,
            cfg.clone(),
        )
        .0
    });
    let results = run_contained(domains, concurrency, deadline, |domain, progress| {
        let ctx = DomainCtx {
            client: client.clone(),
            job: job.clone(),
            cfg: cfg.clone(),
            domain,
            deadline,
            progress,
            board: board.clone(),
            batcher: batcher.clone(),
            learner: learner.clone(),
        };
        async move { ctx.run().await }
    })
    .await;
    if let Some(task) = sweeper {
        task.abort();
    }
    results
}

/// Runs `work` for every domain as its own task, at most `concurrency` at once, each cut at
/// `deadline`, and returns one result per domain in order, whatever its task did: a task that
/// panics, or is still running at the deadline, gets a result from how far it got.
async fn run_contained<F, Fut>(
    domains: &[String],
    concurrency: usize,
    deadline: Instant,
    work: F,
) -> Vec<DomainResult>
where
    F: Fn(String, Arc<Mutex<Progress>>) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = Vec::with_capacity(domains.len());
    for domain in domains {
        let progress = Arc::new(Mutex::new(Progress::default()));
        let job = work(domain.clone(), progress.clone());
        let (permits, p, name) = (permits.clone(), progress.clone(), domain.clone());
        let span = tracing::info_span!("domain", domain = %domain);
        let task = tokio::spawn(
            async move {
                let outcome = tokio::select! {
                    // At the deadline a freed permit must not start a queued domain.
                    biased;
                    _ = tokio::time::sleep_until(deadline) => None,
                    permit = permits.acquire_owned() => {
                        let _permit = permit;
                        progress_of(&p).started = Some(Instant::now());
                        let outcome = tokio::time::timeout_at(deadline, job).await.ok();
                        progress_of(&p).finished = Some(Instant::now());
                        outcome
                    }
                };
                let p = progress_of(&p);
                let outcome = outcome.unwrap_or_else(|| out_of_budget(&p));
                result_of(&name, &p, outcome)
            }
            .instrument(span),
        );
        running.push((domain.clone(), progress, task));
    }

    let mut results = Vec::with_capacity(running.len());
    for (domain, progress, mut task) in running {
        // The task ends by the deadline on its own; the grace covers a task stuck outside an
        // await point, which is aborted.
        let grace = deadline + Duration::from_millis(250);
        let joined = match tokio::time::timeout_at(grace, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                let p = progress_of(&progress);
                Ok(result_of(&domain, &p, out_of_budget(&p)))
            }
        };
        results.push(match joined {
            Ok(result) => result,
            Err(e) => {
                let p = progress_of(&progress);
                warn!(domain = %domain, panicked = e.is_panic(), "the domain's task ended abnormally");
                let status = if p.phase >= Phase::MaybeWritten {
                    Status::Pending
                } else {
                    Status::Failed
                };
                let error = ErrorInfo::new(
                    "internal_error",
                    "internal error while deploying this domain (the others were not affected)",
                    true,
                );
                result_of(&domain, &p, Outcome::err(status, error))
            }
        });
    }
    results
}

fn progress_of(p: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The domain's result: its outcome with the bookkeeping, logged as the domain's last event.
fn result_of(domain: &str, p: &Progress, outcome: Outcome) -> DomainResult {
    let mut request_ids = p.kept_ids.clone();
    for id in &p.poll_ids {
        if !request_ids.contains(id) {
            request_ids.push(id.clone());
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
        message: outcome.message,
        error: outcome.error,
        previous_not_after: None,
        expiring: false,
        previous_not_after_unix: None,
    }
    .with_previous(p.previous_not_after)
}

/// The status of a domain whose run the deadline cut short.
pub(super) fn out_of_budget(p: &Progress) -> Outcome {
    let last = p
        .last_status
        .as_deref()
        .map(|s| format!(" (last read: {s})"))
        .unwrap_or_default();
    match p.phase {
        Phase::Written => Outcome::ok(
            Status::Pending,
            format!("write accepted; not confirmed online within the time budget{last}; run again to confirm"),
        ),
        Phase::MaybeWritten => Outcome::ok(
            Status::Pending,
            format!("a write was sent but its answer was lost before the time budget ended{last}; run again to confirm"),
        ),
        Phase::Queued => Outcome::err(
            Status::Skipped,
            ErrorInfo::new("budget_exhausted", "the time budget was spent before this domain's turn", true),
        ),
        Phase::Reading => Outcome::err(
            Status::Skipped,
            ErrorInfo::new(
                "budget_exhausted",
                format!("the time budget was spent before a write was made{last}"),
                true,
            ),
        ),
    }
}

/// Maps a final call error to the domain's outcome. Once a write may have been applied the domain
/// is never reported failed: it is `pending`, with the error attached.
pub(super) fn failure(e: &CdnError, phase: Phase) -> Outcome {
    let info = error_info(e);
    if phase >= Phase::MaybeWritten {
        return Outcome {
            status: Status::Pending,
            message: Some(
                "the write was sent but could not be confirmed; run again to confirm".into(),
            ),
            error: Some(info),
        };
    }
    let status = match e.kind() {
        ErrorKind::Auth | ErrorKind::Rejected => Status::Failed,
        _ => Status::Skipped,
    };
    Outcome::err(status, info)
}

/// A call error as the result reports it: the CDN's own code when it gave one, else the
/// function's (`auth_failed`, `throttled`, `upstream_unavailable`, `budget_exhausted`, …).
pub fn error_info(e: &CdnError) -> ErrorInfo {
    let own = match e.kind() {
        ErrorKind::Auth => "auth_failed",
        ErrorKind::NotSent if matches!(e, CdnError::AuthStopped) => "auth_failed",
        ErrorKind::NotSent | ErrorKind::Busy => "budget_exhausted",
        ErrorKind::Throttled => "throttled",
        ErrorKind::Server | ErrorKind::Transport => "upstream_unavailable",
        ErrorKind::Rejected => "upstream_rejected",
    };
    let code = match (e, e.code()) {
        (CdnError::Decode { .. }, _) => "upstream_unavailable",
        (_, Some(code)) => code,
        (_, None) => own,
    };
    let message = if e.kind() == ErrorKind::Auth {
        format!("authentication failed ({e}); every call of this run was stopped")
    } else {
        e.to_string()
    };
    ErrorInfo {
        code: code.to_string(),
        message,
        http_status: e.http_status(),
        retryable: e.retryable(),
        field: None,
        reason: None,
    }
}

/// The latest instant a call may start: a second before `deadline`, so its answer still counts.
pub(super) fn last_call_by(deadline: Instant) -> Instant {
    deadline
        .checked_sub(Duration::from_secs(1))
        .unwrap_or(deadline)
}

/// Sleeps `d`, or until a second before `deadline` when `d` would end later (keeping time for one
/// more call); false when not even that is left.
pub(super) async fn nap(deadline: Instant, d: Duration) -> bool {
    let latest = last_call_by(deadline);
    let now = Instant::now();
    let mut wake = now + d;
    if wake > latest {
        // One last look just before the end is worth more than giving up early.
        if latest < now + Duration::from_millis(250) {
            return false;
        }
        wake = latest;
    }
    tokio::time::sleep_until(wake).await;
    true
}

/// The wait before retrying after `e`: the server's `Retry-After` if longer than the backoff.
pub(super) fn retry_wait(e: &CdnError, attempt: u32) -> Duration {
    let backoff = decide::retry_delay(attempt, fastrand::f64());
    match e {
        CdnError::Api {
            retry_after: Some(after),
            ..
        } => (*after).max(backoff),
        _ => backoff,
    }
}

/// Runs `call` until it succeeds, fails for good, has been tried `max_attempts` times, or the
/// budget leaves no time for another try; retryable errors (429, 5xx, connection) are retried
/// with jittered backoff.
pub(super) async fn retrying<T, F, Fut>(
    deadline: Instant,
    max_attempts: u32,
    mut call: F,
) -> Result<T, CdnError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CdnError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.retryable() && attempt + 1 < max_attempts => {
                if !nap(deadline, retry_wait(&e, attempt)).await {
                    return Err(e);
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Every domain of the account (ListDomains, all pages), in the CDN's order.
pub async fn list_account(
    client: &CdnClient,
    enterprise_project_id: Option<&str>,
    deadline: Instant,
    cfg: &EngineConfig,
) -> Result<Vec<ListedDomain>, CdnError> {
    let pages = all_pages(deadline, cfg, "ListDomains", |page, size, opts| {
        client.list_domains(page, size, enterprise_project_id, opts)
    });
    Ok(pages.await?.0)
}

/// Every entry of a paged list call, in the CDN's order, with the request id of each page.
pub(super) async fn all_pages<P, F, Fut>(
    deadline: Instant,
    cfg: &EngineConfig,
    what: &'static str,
    fetch: F,
) -> Result<(Vec<P::Item>, Vec<String>), CdnError>
where
    P: Paged,
    F: Fn(u32, u32, CallOptions) -> Fut,
    Fut: Future<Output = Result<Answer<P>, CdnError>>,
{
    const PAGE: u32 = 1000;
    let opts = CallOptions {
        timeout: cfg.request_timeout,
        deadline,
    };
    let mut all = Vec::new();
    let mut request_ids = Vec::new();
    for page in 1.. {
        let answer = retrying(deadline, cfg.max_attempts, || fetch(page, PAGE, opts)).await?;
        let (entries, total) = answer.value.into_page();
        info!(
            call = what,
            page,
            request_id = answer.request_id.as_deref(),
            listed = entries.len(),
            total,
            "listed a page"
        );
        request_ids.extend(answer.request_id);
        let got = entries.len();
        all.extend(entries);
        if got < PAGE as usize || all.len() as u64 >= total {
            break;
        }
    }
    Ok((all, request_ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_panicking_domain_does_not_touch_the_others() {
        let domains = names(&["a.example.com", "boom.example.com", "c.example.com"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        let results = run_contained(&domains, 2, deadline, |domain, _| async move {
            if domain.starts_with("boom") {
                panic!("simulated bug");
            }
            Outcome::ok(Status::Deployed, "fine")
        })
        .await;
        let got: Vec<(&str, Status)> = results
            .iter()
            .map(|r| (r.domain.as_str(), r.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.example.com", Status::Deployed),
                ("boom.example.com", Status::Failed),
                ("c.example.com", Status::Deployed)
            ]
        );
        assert_eq!(results[1].error.as_ref().unwrap().code, "internal_error");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_turns_written_domains_pending_and_queued_ones_skipped() {
        let domains = names(&[
            "written.example.com",
            "reading.example.com",
            "queued.example.com",
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let results = run_contained(&domains, 2, deadline, |domain, progress| async move {
            progress_of(&progress).phase = if domain.starts_with("written") {
                Phase::Written
            } else {
                Phase::Reading
            };
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::ok(Status::Deployed, "never")
        })
        .await;
        let got: Vec<Status> = results.iter().map(|r| r.status).collect();
        assert_eq!(got, vec![Status::Pending, Status::Skipped, Status::Skipped]);
        assert_eq!(results[1].error.as_ref().unwrap().code, "budget_exhausted");
        assert_eq!(results[2].error.as_ref().unwrap().code, "budget_exhausted");
        assert!(results[2].error.as_ref().unwrap().message.contains("turn"));
    }
}
