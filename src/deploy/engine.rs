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

use super::batch::{BatchReply, Batcher};
use super::board::Board;
use super::decide::{self, Decision, Overrides, Verdict};
use super::target::Target;
use crate::huawei::cdn::{Answer, CallOptions, CdnClient};
use crate::huawei::error::{CdnError, ErrorKind};
use crate::huawei::model::{Configs, DomainStatus, HttpsGet, ListedDomain};
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
    /// From this many domains in flight on, polls come from shared ListDomains sweeps ([`Board`])
    /// and writes are batched ([`Batcher`]).
    pub bulk_threshold: usize,
    /// How often the shared sweeps run (while a domain waits for one).
    pub bulk_interval: Duration,
    /// How long a batch group waits for more domains before it is sent.
    pub batch_linger: Duration,
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
enum Phase {
    #[default]
    Queued,
    Reading,
    /// A write was sent and its answer is unknown (timeout, 5xx, reset): it may be applied.
    MaybeWritten,
    Written,
}

#[derive(Debug, Default)]
struct Progress {
    started: Option<Instant>,
    /// When the write was accepted: polls must be newer than this.
    written_at: Option<Instant>,
    finished: Option<Instant>,
    phase: Phase,
    api_calls: u32,
    kept_ids: Vec<String>,
    poll_ids: Vec<String>,
    last_status: Option<String>,
}

/// A domain's ending, before the bookkeeping is added.
#[derive(Debug)]
struct Outcome {
    status: Status,
    message: Option<String>,
    error: Option<ErrorInfo>,
}

impl Outcome {
    fn ok(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Some(message.into()),
            error: None,
        }
    }

    fn err(status: Status, error: ErrorInfo) -> Self {
        Self {
            status,
            message: None,
            error: Some(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
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
    let (board, sweeper) = if many && job.wait {
        let (board, task) = Board::spawn(
            client.clone(),
            job.enterprise_project_id.clone(),
            deadline,
            cfg.clone(),
            cfg.bulk_interval,
        );
        (Some(board), Some(task))
    } else {
        (None, None)
    };
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
    }
}

/// The status of a domain whose run the deadline cut short.
fn out_of_budget(p: &Progress) -> Outcome {
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
fn failure(e: &CdnError, phase: Phase) -> Outcome {
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
    }
}

/// Sleeps `d`, or until a second before `deadline` when `d` would end later (keeping time for one
/// more call); false when not even that is left.
async fn nap(deadline: Instant, d: Duration) -> bool {
    let latest = deadline
        .checked_sub(Duration::from_secs(1))
        .unwrap_or(deadline);
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
fn retry_wait(e: &CdnError, attempt: u32) -> Duration {
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
    const PAGE: u32 = 1000;
    let opts = CallOptions {
        timeout: cfg.request_timeout,
        deadline,
    };
    let mut all = Vec::new();
    for page in 1.. {
        let answer = retrying(deadline, cfg.max_attempts, || {
            client.list_domains(page, PAGE, enterprise_project_id, opts)
        })
        .await?;
        info!(
            page,
            request_id = answer.request_id.as_deref(),
            listed = answer.value.domains.len(),
            total = answer.value.total,
            "listed the account's domains"
        );
        let got = answer.value.domains.len();
        all.extend(answer.value.domains);
        if got < PAGE as usize || all.len() as u64 >= answer.value.total {
            break;
        }
    }
    Ok(all)
}

struct DomainCtx {
    client: Arc<CdnClient>,
    job: Arc<Job>,
    cfg: Arc<EngineConfig>,
    domain: String,
    deadline: Instant,
    progress: Arc<Mutex<Progress>>,
    /// Shared status sweeps, when the run is large enough for them.
    board: Option<Board>,
    /// The batch writer, when the run is large enough for it.
    batcher: Option<Batcher>,
}

/// Short for a call's result inside the domain flow: the error already mapped to the outcome.
type Step<T> = Result<T, Outcome>;

impl DomainCtx {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn phase(&self) -> Phase {
        self.progress().phase
    }

    fn set_phase(&self, phase: Phase) {
        self.progress().phase = phase;
    }

    fn opts(&self) -> CallOptions {
        CallOptions {
            timeout: self.cfg.request_timeout,
            deadline: self.deadline,
        }
    }

    async fn nap(&self, d: Duration) -> bool {
        nap(self.deadline, d).await
    }

    /// Counts a call made for this domain and keeps its request id.
    fn record_call(&self, role: Role, request_id: Option<&str>) {
        let mut p = self.progress();
        p.api_calls += 1;
        if let Some(id) = request_id {
            let ids = if role == Role::Poll {
                &mut p.poll_ids
            } else {
                &mut p.kept_ids
            };
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    }

    /// One call, recorded: the call count, the request id, the log line.
    async fn once<T, F, Fut>(&self, role: Role, what: &'static str, f: F) -> Result<T, CdnError>
    where
        F: FnOnce(CallOptions) -> Fut,
        Fut: Future<Output = Result<Answer<T>, CdnError>>,
    {
        let started = Instant::now();
        let result = f(self.opts()).await;
        let request_id = match &result {
            Ok(a) => a.request_id.clone(),
            Err(e) => e.request_id().map(str::to_string),
        };
        let sent = !matches!(&result, Err(CdnError::AuthStopped | CdnError::BudgetSpent));
        if sent {
            self.record_call(role, request_id.as_deref());
        }
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => info!(
                call = what,
                request_id = request_id.as_deref(),
                elapsed_ms = ms,
                "call answered"
            ),
            Err(e) if sent => {
                warn!(call = what, request_id = request_id.as_deref(), elapsed_ms = ms, error = %e, "call failed")
            }
            Err(_) => {}
        }
        result.map(|a| a.value)
    }

    /// A read, retried on throttling, 5xx and connection errors within the budget.
    async fn read<T, F, Fut>(&self, role: Role, what: &'static str, f: F) -> Step<T>
    where
        F: Fn(CallOptions) -> Fut,
        Fut: Future<Output = Result<Answer<T>, CdnError>>,
    {
        retrying(self.deadline, self.cfg.max_attempts, || {
            self.once(role, what, &f)
        })
        .await
        .map_err(|e| failure(&e, self.phase()))
    }

    fn note_status(&self, status: &DomainStatus) {
        self.progress().last_status = Some(status.as_str().to_string());
    }

    async fn read_status(&self, role: Role) -> Step<DomainStatus> {
        let d = &self.domain;
        let eps = self.job.enterprise_project_id.as_deref();
        let detail = self
            .read(role, "ShowDomainDetailByName", |o| {
                self.client.show_domain_detail(d, eps, o)
            })
            .await?;
        self.note_status(&detail.domain_status);
        Ok(detail.domain_status)
    }

    async fn read_configs(&self, role: Role) -> Step<Configs> {
        let d = &self.domain;
        let eps = self.job.enterprise_project_id.as_deref();
        self.read(role, "ShowDomainFullConfig", |o| {
            self.client.show_full_config(d, eps, o)
        })
        .await
    }

    /// Polls the status until the domain leaves `configuring`.
    async fn wait_until_settled(&self) -> Step<DomainStatus> {
        let mut n = 0;
        loop {
            if !self.nap(decide::poll_delay(n)).await {
                return Err(out_of_budget(&self.progress()));
            }
            n += 1;
            let status = self.read_status(Role::Poll).await?;
            info!(
                status = status.as_str(),
                poll = n,
                "waiting for the domain to settle"
            );
            if !matches!(status, DomainStatus::Configuring | DomainStatus::Other(_)) {
                return Ok(status);
            }
        }
    }

    async fn run(&self) -> Outcome {
        match self.deploy().await {
            Ok(o) | Err(o) => o,
        }
    }

    async fn deploy(&self) -> Step<Outcome> {
        if self.client.auth_failed() {
            return Err(failure(&CdnError::AuthStopped, Phase::Queued));
        }
        self.set_phase(Phase::Reading);
        let target = &self.job.target;
        let mut writes = 0u32;
        let mut batch_tried = false;
        // The https block before a batched write, to check what the batch call cannot carry.
        let mut batched_from: Option<HttpsGet> = None;
        'read: loop {
            let status = self.read_status(Role::Read).await?;
            let configs = self.read_configs(Role::Read).await?;
            let https = configs.https.as_ref();
            info!(
                status = status.as_str(),
                https = https.and_then(|h| h.https_status.as_deref()),
                serves_new_certificate = decide::serves(https, target),
                "read the domain"
            );
            if self.phase() == Phase::MaybeWritten && decide::serves(https, target) {
                info!("the earlier write was applied after all");
                self.progress().written_at = Some(Instant::now());
                self.set_phase(Phase::Written);
                break 'read;
            }
            match decide::after_read(&status, https, target, self.job.force) {
                Decision::Unchanged => {
                    return Ok(Outcome::ok(
                        Status::Unchanged,
                        "already serves this certificate",
                    ))
                }
                Decision::Unavailable(why) => {
                    return Ok(Outcome::err(
                        Status::Skipped,
                        ErrorInfo::new("domain_unavailable", why, true),
                    ))
                }
                Decision::WaitUntilSettled => {
                    self.wait_until_settled().await?;
                    continue 'read;
                }
                Decision::Write => {}
            }
            let put = decide::https_put(https, target, &self.job.overrides);
            if self.job.dry_run {
                return Ok(Outcome::ok(
                    Status::Planned,
                    format!(
                        "would write the certificate (http2 {}, tls {}, ocsp stapling {})",
                        put.http2_status.as_deref().unwrap_or("default"),
                        put.tls_version.as_deref().unwrap_or("default"),
                        put.ocsp_stapling_status.as_deref().unwrap_or("default"),
                    ),
                ));
            }
            if let (Some(batcher), false) = (&self.batcher, batch_tried) {
                if let Some(key) = decide::batch_key(&configs, &self.job.overrides) {
                    batch_tried = true;
                    let before = self.phase();
                    self.set_phase(Phase::MaybeWritten);
                    match batcher.write(&self.domain, key).await {
                        BatchReply::Written { request_id } => {
                            self.record_call(Role::Write, request_id.as_deref());
                            info!(request_id = request_id.as_deref(), "batch write accepted");
                            self.progress().written_at = Some(Instant::now());
                            self.set_phase(Phase::Written);
                            batched_from = configs.https.clone();
                            break 'read;
                        }
                        BatchReply::Alone(reason) => {
                            if let Some(reason) = reason {
                                self.record_call(Role::Write, None);
                                warn!(reason = %reason, "the batch write refused this domain; writing it alone");
                            }
                            self.set_phase(before);
                        }
                        BatchReply::Unknown(e) => {
                            self.record_call(Role::Write, None);
                            if !self.nap(retry_wait(&e, 0)).await {
                                return Err(failure(&e, Phase::MaybeWritten));
                            }
                            continue 'read;
                        }
                    }
                }
            }
            loop {
                writes += 1;
                let before = self.phase();
                if before < Phase::MaybeWritten {
                    self.set_phase(Phase::MaybeWritten);
                }
                let eps = self.job.enterprise_project_id.as_deref();
                let result = self
                    .once(Role::Write, "UpdateDomainFullConfig", |o| {
                        self.client.update_https(&self.domain, eps, &put, o)
                    })
                    .await;
                let e = match result {
                    Ok(()) => {
                        info!("write accepted");
                        self.progress().written_at = Some(Instant::now());
                        self.set_phase(Phase::Written);
                        break 'read;
                    }
                    Err(e) => e,
                };
                let exhausted = writes >= self.cfg.max_attempts;
                match e.kind() {
                    // Throttled, busy and rejected writes were not applied.
                    ErrorKind::Throttled if !exhausted => {
                        self.set_phase(before);
                        if !self.nap(retry_wait(&e, writes - 1)).await {
                            return Err(failure(&e, before));
                        }
                    }
                    ErrorKind::Busy if !exhausted => {
                        self.set_phase(before);
                        info!("the domain is busy with another change; waiting for it to settle");
                        self.wait_until_settled().await?;
                        continue 'read;
                    }
                    // The change may have been applied: read again before writing again.
                    ErrorKind::Server | ErrorKind::Transport if !exhausted => {
                        if !self.nap(retry_wait(&e, writes - 1)).await {
                            return Err(failure(&e, Phase::MaybeWritten));
                        }
                        continue 'read;
                    }
                    ErrorKind::Server | ErrorKind::Transport => {
                        return Err(failure(&e, Phase::MaybeWritten))
                    }
                    _ => {
                        self.set_phase(before);
                        return Err(failure(&e, before));
                    }
                }
            }
        }

        if !self.job.wait {
            return Ok(Outcome::ok(
                Status::Submitted,
                "write accepted; not waiting for it to go live (wait: false)",
            ));
        }
        self.confirm(batched_from).await
    }

    /// The domain's status from the next sweep begun after `seen` (its own read when no sweep
    /// comes in time or the sweep does not list it).
    async fn status_from_board(&self, board: &mut Board, seen: &mut Instant) -> Step<DomainStatus> {
        let latest = self
            .deadline
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(self.deadline);
        let limit = latest.min(Instant::now() + board.interval * 3);
        match board.sweep_after(*seen, limit).await {
            Some(sweep) => {
                *seen = sweep.started;
                match sweep.statuses.get(&self.domain) {
                    Some(status) => {
                        self.note_status(status);
                        Ok(status.clone())
                    }
                    None => self.read_status(Role::Poll).await,
                }
            }
            None if Instant::now() + Duration::from_millis(250) >= latest => {
                Err(out_of_budget(&self.progress()))
            }
            None => self.read_status(Role::Poll).await,
        }
    }

    /// Polls after the write until the domain reads `online` with the new certificate. After a
    /// batched write (`batched_from`: the https block before it), the TLS versions and OCSP
    /// stapling the batch call cannot carry are checked, and restored with a per-domain write
    /// when they did not survive.
    async fn confirm(&self, mut batched_from: Option<HttpsGet>) -> Step<Outcome> {
        let target = &self.job.target;
        let mut board = self.board.clone();
        let mut seen = self.progress().written_at.unwrap_or_else(Instant::now);
        let mut restored = false;
        let mut n = 0;
        loop {
            self.progress().poll_ids.clear();
            let status = match board.as_mut() {
                Some(board) => self.status_from_board(board, &mut seen).await?,
                None => {
                    if !self.nap(decide::poll_delay(n)).await {
                        return Err(out_of_budget(&self.progress()));
                    }
                    self.read_status(Role::Poll).await?
                }
            };
            n += 1;
            let configs = if status == DomainStatus::Online {
                Some(self.read_configs(Role::Poll).await?)
            } else {
                None
            };
            let https = configs.as_ref().and_then(|c| c.https.as_ref());
            info!(status = status.as_str(), poll = n, "poll");
            match decide::after_poll(&status, https, target) {
                Verdict::Deployed => {
                    if let Some(fix) = decide::lost_settings(batched_from.as_ref(), https) {
                        batched_from = None;
                        warn!(tls = fix.tls_version.as_deref(), ocsp = ?fix.ocsp_stapling,
                              "the batch write changed TLS versions or OCSP stapling; restoring them");
                        let put = decide::https_put(https, target, &fix);
                        let eps = self.job.enterprise_project_id.as_deref();
                        let written = retrying(self.deadline, self.cfg.max_attempts, || {
                            self.once(Role::Write, "UpdateDomainFullConfig", |o| {
                                self.client.update_https(&self.domain, eps, &put, o)
                            })
                        })
                        .await;
                        if let Err(e) = written {
                            let mut error = error_info(&e);
                            error.message = format!(
                                "the certificate is live, but the TLS versions / OCSP stapling the batch write reset could not be restored: {}",
                                error.message
                            );
                            return Ok(Outcome {
                                status: Status::Deployed,
                                message: Some("online with the new certificate".into()),
                                error: Some(error),
                            });
                        }
                        restored = true;
                        let now = Instant::now();
                        self.progress().written_at = Some(now);
                        seen = now;
                        continue;
                    }
                    let message = if restored {
                        "online with the new certificate (TLS versions and OCSP stapling restored after the batch write)"
                    } else {
                        "online with the new certificate"
                    };
                    return Ok(Outcome::ok(Status::Deployed, message));
                }
                Verdict::ConfigureFailed => return Ok(Outcome::err(
                    Status::Failed,
                    ErrorInfo::new(
                        "configure_failed",
                        "the CDN accepted the certificate but the domain ended `configure_failed`",
                        true,
                    ),
                )),
                Verdict::Waiting => {
                    if status == DomainStatus::Online {
                        self.progress().last_status =
                            Some("online, not yet serving the new certificate".into());
                    }
                }
            }
        }
    }
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
