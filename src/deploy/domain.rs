//! One domain's deployment: read → decide → write → confirm, with the retries, waits and
//! fallbacks each step needs. Decisions come from [`super::decide`]; shared reads and writes of
//! many domains come from [`super::board`] and [`super::batch`].

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::batch::{BatchReply, Batcher};
use super::board::Board;
use super::decide::{self, BatchKey, Decision, FromSnapshot, Verdict};
use super::engine::{
    error_info, failure, last_call_by, nap, out_of_budget, retry_wait, retrying, EngineConfig, Job,
    Outcome, Phase, Progress, Role,
};
use super::learn::{Admission, Learner, Observation, Probe};
use crate::huawei::cdn::{Answer, CallOptions, CdnClient};
use crate::huawei::error::{CdnError, ErrorKind};
use crate::huawei::model::{Configs, DomainStatus, HttpsDetail, HttpsGet};
use crate::result::{ErrorInfo, Status};

pub(super) struct DomainCtx {
    pub(super) client: Arc<CdnClient>,
    pub(super) job: Arc<Job>,
    pub(super) cfg: Arc<EngineConfig>,
    pub(super) domain: String,
    pub(super) deadline: Instant,
    pub(super) progress: Arc<Mutex<Progress>>,
    /// Shared status sweeps, when the run is large enough for them.
    pub(super) board: Option<Board>,
    /// The batch writer, when the run is large enough for it.
    pub(super) batcher: Option<Batcher>,
    /// What the run learns of the batch call, when it batches.
    pub(super) learner: Option<Arc<Learner>>,
}

/// Short for a call's result inside the domain flow: the error already mapped to the outcome.
/// How a batched write went, for the domain's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batched {
    Written,
    /// Write it alone.
    Alone,
    /// The answer was lost: read again before anything else.
    Retry,
}

pub(super) type Step<T> = Result<T, Outcome>;

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

    /// `d` from now, but no later than a second before the deadline.
    fn soon(&self, d: Duration) -> Instant {
        let latest = last_call_by(self.deadline);
        Instant::now()
            .checked_add(d)
            .map_or(latest, |t| t.min(latest))
    }

    /// What the run's first sweep says of this domain, before any call of its own (`Read` when
    /// the run has no board, or the sweep does not come or does not list the domain).
    async fn snapshot_decision(&self) -> FromSnapshot {
        let Some(mut board) = self.board.clone() else {
            return FromSnapshot::Read;
        };
        let limit = self.soon(self.cfg.request_timeout * 2);
        let Some(sweep) = board.sweep_after(None, limit).await else {
            return FromSnapshot::Read;
        };
        let (Some(status), Some(detail)) = (
            sweep.statuses.get(&self.domain),
            sweep.https.get(&self.domain),
        ) else {
            return FromSnapshot::Read;
        };
        self.note_status(status);
        self.progress().previous_not_after = decide::detail_not_after(detail);
        let job = &self.job;
        let decision =
            decide::from_snapshot(status, detail, &job.target, job.force, &job.overrides);
        info!(status = status.as_str(), decision = ?decision, "read the domain from the bulk snapshot");
        if decision == FromSnapshot::Unchanged {
            let ids = &mut self.progress().kept_ids;
            ids.extend(sweep.request_ids.iter().cloned());
        }
        decision
    }

    /// Hands the domain to the batch writer and records how it went.
    async fn batch_write(&self, batcher: &Batcher, key: BatchKey, probe: bool) -> Step<Batched> {
        let before = self.phase();
        self.set_phase(Phase::MaybeWritten);
        match batcher.write(&self.domain, key, probe).await {
            BatchReply::Written { request_id } => {
                self.record_call(Role::Write, request_id.as_deref());
                info!(request_id = request_id.as_deref(), "batch write accepted");
                self.progress().written_at = Some(Instant::now());
                self.set_phase(Phase::Written);
                Ok(Batched::Written)
            }
            BatchReply::Alone(reason) => {
                if let Some(reason) = reason {
                    self.record_call(Role::Write, None);
                    warn!(reason = %reason, "the batch write refused this domain; writing it alone");
                }
                self.set_phase(before);
                Ok(Batched::Alone)
            }
            BatchReply::Unknown(e) => {
                self.record_call(Role::Write, None);
                if !self.nap(retry_wait(&e, 0)).await {
                    return Err(failure(&e, Phase::MaybeWritten));
                }
                Ok(Batched::Retry)
            }
        }
    }

    /// A probe's report: its TLS versions and OCSP stapling before its batched write and right
    /// after (read once the config carries the new certificate, so it is the batch's doing).
    async fn probe_after(&self, probe: Probe, before: Option<&HttpsGet>) {
        let after = self.read_configs(Role::Read).await.ok();
        let after = after.as_ref().and_then(|c| c.https.as_ref());
        let settings = |h: Option<&HttpsGet>| {
            (
                h.and_then(|h| h.tls_version.clone()),
                h.and_then(|h| h.ocsp_stapling_status.clone()),
            )
        };
        let seen = decide::serves(after, &self.job.target).then(|| Observation {
            before: settings(before),
            after: settings(after),
        });
        probe.report(seen);
    }

    pub(super) async fn run(&self) -> Outcome {
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
        let mut probe = None;
        let mut written = false;
        match self.snapshot_decision().await {
            FromSnapshot::Unchanged => {
                return Ok(Outcome::ok(
                    Status::Unchanged,
                    "already serves this certificate",
                ))
            }
            FromSnapshot::Batch(key) => {
                if let (Some(learner), Some(batcher)) = (&self.learner, &self.batcher) {
                    let limit = self.soon(self.cfg.request_timeout + self.cfg.batch_linger * 3);
                    match learner.admit(limit).await {
                        Admission::Fast => {
                            batch_tried = true;
                            written =
                                self.batch_write(batcher, key, false).await? == Batched::Written;
                        }
                        Admission::Probe(p) => probe = Some(p),
                        Admission::Read => {}
                    }
                }
            }
            FromSnapshot::Read => {}
        }
        if !written {
            'read: loop {
                let status = self.read_status(Role::Read).await?;
                let configs = self.read_configs(Role::Read).await?;
                let https = configs.https.as_ref();
                if self.phase() < Phase::MaybeWritten {
                    self.progress().previous_not_after = https.and_then(decide::served_not_after);
                }
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
                let current = (
                    https.and_then(|h| h.tls_version.clone()),
                    https.and_then(|h| h.ocsp_stapling_status.clone()),
                );
                let batch_would_change = self
                    .learner
                    .as_ref()
                    .is_some_and(|l| l.batch_would_change(&current));
                if batch_would_change && !batch_tried {
                    info!("written alone: the batch call would change its TLS versions or OCSP stapling");
                }
                if let (Some(batcher), false) = (&self.batcher, batch_tried || batch_would_change) {
                    if let Some(key) = decide::batch_key(&configs, &self.job.overrides) {
                        batch_tried = true;
                        match self.batch_write(batcher, key, probe.is_some()).await? {
                            Batched::Written => {
                                batched_from = configs.https.clone();
                                if let Some(probe) = probe.take() {
                                    self.probe_after(probe, configs.https.as_ref()).await;
                                }
                                break 'read;
                            }
                            Batched::Alone => {}
                            Batched::Retry => continue 'read,
                        }
                    }
                }
                // Written alone, this domain cannot tell how the batch call behaves.
                drop(probe.take());
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
                            info!(
                                "the domain is busy with another change; waiting for it to settle"
                            );
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
        }

        if !self.job.wait {
            return Ok(Outcome::ok(
                Status::Submitted,
                "write accepted; not waiting for it to go live (wait: false)",
            ));
        }
        self.confirm(batched_from).await
    }

    /// The domain's status from the next sweep begun after `seen`, with its certificate when the
    /// sweep has it (its own status read when no sweep comes in time or the sweep does not list
    /// it).
    async fn poll_board(
        &self,
        board: &mut Board,
        seen: &mut Instant,
    ) -> Step<(DomainStatus, Option<HttpsDetail>)> {
        let latest = self.soon(Duration::MAX);
        let limit = latest.min(Instant::now() + board.interval * 3);
        match board.sweep_after(Some(*seen), limit).await {
            Some(sweep) => {
                *seen = sweep.started;
                match sweep.statuses.get(&self.domain) {
                    Some(status) => {
                        self.note_status(status);
                        self.progress()
                            .poll_ids
                            .extend(sweep.request_ids.iter().cloned());
                        Ok((status.clone(), sweep.https.get(&self.domain).cloned()))
                    }
                    None => Ok((self.read_status(Role::Poll).await?, None)),
                }
            }
            None if Instant::now() + Duration::from_millis(250) >= latest => {
                Err(out_of_budget(&self.progress()))
            }
            None => Ok((self.read_status(Role::Poll).await?, None)),
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
            let (status, detail) = match board.as_mut() {
                Some(board) => self.poll_board(board, &mut seen).await?,
                None => {
                    if !self.nap(decide::poll_delay(n)).await {
                        return Err(out_of_budget(&self.progress()));
                    }
                    (self.read_status(Role::Poll).await?, None)
                }
            };
            n += 1;
            // The domain's own read is needed when the sweep cannot judge its certificate, and
            // after a batched write whose effect on TLS and OCSP is still to be checked.
            let judged_by_sweep = detail
                .as_ref()
                .is_some_and(|d| decide::detail_serves(d, target).is_some());
            let configs =
                if status == DomainStatus::Online && (batched_from.is_some() || !judged_by_sweep) {
                    Some(self.read_configs(Role::Poll).await?)
                } else {
                    None
                };
            let https = configs.as_ref().and_then(|c| c.https.as_ref());
            info!(status = status.as_str(), poll = n, "poll");
            let verdict = match (&configs, &detail) {
                (None, Some(detail)) => decide::after_poll_detail(&status, detail, target),
                _ => decide::after_poll(&status, https, target),
            };
            match verdict {
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
