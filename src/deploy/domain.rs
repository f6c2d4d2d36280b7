//! One domain's deployment: look (the run's bulk snapshot, or its own reads) → read in full →
//! decide → write (batched when it has nothing the batch call could lose, else alone with every
//! setting it holds) → confirm, and prove the write where the run has not proved its kind yet.
//! The order of the steps is the state machine of [`super::machine`]; this module carries out
//! its actions. Decisions come from [`super::decide`] and [`super::settings`]; shared reads and
//! writes of many domains from [`super::board`] and [`super::batch`]; what is proved of each
//! kind of write from [`super::proof`].

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::batch::{BatchEvent, BatchHook, BatchReply, Batcher};
use super::board::Board;
use super::calls::{last_call_by, nap, retry_wait, retrying};
use super::confirm::{Accepted, Do, Done, Seen};
use super::decide::{self, FullPut};
use super::job::{EngineConfig, Job};
use super::machine::{Action, Batched, Ending, Event, Machine, Sighting};
use super::outcome::{error_info, failure, out_of_budget, Outcome, Phase, Progress, Role};
use super::proof::{Admission, Prover, Ticket, WriteKind};
use super::settings::{self, BatchKey, BulkEntry, Change};
use crate::cert::rfc3339;
use crate::huawei::cdn::{Answer, CallOptions, CdnClient, OnSend};
use crate::huawei::error::{CdnError, ErrorKind};
use crate::huawei::model::{Configs, DomainStatus, HttpsPut};
use crate::huawei::quota::Window;
use crate::result::{ErrorCode, ErrorInfo, Status};

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
    /// What the run has proved of each kind of write.
    pub(super) prover: Prover,
    /// Paces the reads before a write (see [`EngineConfig::read_quota`]).
    pub(super) first_reads: Arc<Mutex<Window>>,
}

/// A write of this run that was accepted (or whose answer was lost): what it must be proved
/// against.
#[derive(Debug)]
struct Written {
    kind: WriteKind,
    /// The domain's full read before any write of this run.
    before: Configs,
    /// Held while the write is a sample of its kind and class: it reports the proof.
    ticket: Option<Ticket>,
}

/// What the steps of one domain's flow pass on to each other.
#[derive(Default)]
struct Flow {
    /// The last full read.
    configs: Option<Configs>,
    /// The last full read before any write of this run may have been applied.
    before: Option<Configs>,
    /// The phase before the last per-domain write left.
    before_write: Phase,
    written: Option<Written>,
    /// The start of the last sweep a confirmation poll saw.
    swept_after: Option<Instant>,
    /// Confirmation polls so far, for the log.
    polls: u32,
}

/// The domain as the run's first sweep showed it.
struct Swept {
    status: DomainStatus,
    entry: Option<BulkEntry>,
}

type Step<T> = Result<T, Outcome>;

/// The budget's end in a restore, which reports it (elsewhere it ends the domain as far as it
/// got).
fn lost(o: Outcome) -> Seen {
    Seen::Lost(
        o.error
            .map_or_else(|| "not confirmed".to_string(), |e| e.message),
    )
}

fn lock(p: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_window(w: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

impl DomainCtx {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        lock(&self.progress)
    }

    fn phase(&self) -> Phase {
        self.progress().phase
    }

    fn set_phase(&self, phase: Phase) {
        self.progress().phase = phase;
    }

    /// The domain's write was refused (not applied): what it means if the budget ends before
    /// another write.
    fn refused(&self, before: Phase, status: Status, error: ErrorInfo) {
        let mut p = self.progress();
        p.phase = before;
        p.refusal = Some((status, error));
    }

    fn written(&self) {
        let mut p = self.progress();
        p.written_at = Some(Instant::now());
        p.phase = Phase::Written;
        p.refusal = None;
    }

    fn opts(&self) -> CallOptions {
        CallOptions::new(self.cfg.request_timeout, self.deadline)
    }

    /// Options of a write: the domain counts as maybe written from the moment it leaves.
    fn write_opts(&self) -> CallOptions {
        let progress = self.progress.clone();
        CallOptions {
            on_send: Some(OnSend(Arc::new(move || {
                let mut p = lock(&progress);
                p.phase = p.phase.max(Phase::MaybeWritten);
            }))),
            ..self.opts()
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
    async fn once<T, F, Fut>(
        &self,
        role: Role,
        what: &'static str,
        opts: CallOptions,
        f: F,
    ) -> Result<T, CdnError>
    where
        F: FnOnce(CallOptions) -> Fut,
        Fut: Future<Output = Result<Answer<T>, CdnError>>,
    {
        let started = Instant::now();
        let result = f(opts).await;
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

    /// A read, retried on throttling, 5xx and connection errors for as long as the budget
    /// lasts: giving up earlier would only end the domain before its time.
    async fn read<T, F, Fut>(&self, role: Role, what: &'static str, f: F) -> Step<T>
    where
        F: Fn(CallOptions) -> Fut,
        Fut: Future<Output = Result<Answer<T>, CdnError>>,
    {
        retrying(self.deadline, u32::MAX, || {
            self.once(role, what, self.opts(), &f)
        })
        .await
        .map_err(|e| failure(&e, self.phase()))
    }

    fn note_status(&self, status: &DomainStatus) {
        self.progress().last_status = Some(status.as_str().to_string());
    }

    /// The domain's own status read (ShowDomainDetailByName).
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

    /// The read before a domain's write: every attempt (retries too) takes a turn of the first
    /// reads' share of the quota, so that failing first reads never eat the tenth kept for the
    /// reads of domains already written.
    async fn first_read(&self) -> Step<Configs> {
        let d = &self.domain;
        let eps = self.job.enterprise_project_id.as_deref();
        let no_turn = std::sync::atomic::AtomicBool::new(false);
        let read = self
            .read(Role::Read, "ShowDomainFullConfig", |o| {
                let no_turn = &no_turn;
                async move {
                    let turn =
                        lock_window(&self.first_reads).reserve(Instant::now(), self.deadline);
                    match turn {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => {
                            no_turn.store(true, std::sync::atomic::Ordering::Relaxed);
                            return Err(CdnError::BudgetSpent);
                        }
                    }
                    self.client.show_full_config(d, eps, o).await
                }
            })
            .await;
        // No turn left before the deadline: the domain ends as far as it got (a refused write
        // keeps its refusal), as when the budget ends anywhere else.
        match read {
            Err(_) if no_turn.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(out_of_budget(&self.progress()))
            }
            other => other,
        }
    }

    /// `d` from now, but no later than a second before the deadline.
    fn soon(&self, d: Duration) -> Instant {
        let latest = last_call_by(self.deadline);
        Instant::now()
            .checked_add(d)
            .map_or(latest, |t| t.min(latest))
    }

    /// The domain's status (and bulk entry) from the next sweep begun after `after`; its own
    /// status read when the run has no board, no sweep comes in time, or the sweep does not
    /// list it.
    async fn poll(
        &self,
        after: &mut Instant,
        not_before: Instant,
    ) -> Step<(DomainStatus, Option<BulkEntry>)> {
        let Some(mut board) = self.board.clone() else {
            if !self
                .nap(not_before.saturating_duration_since(Instant::now()))
                .await
            {
                return Err(out_of_budget(&self.progress()));
            }
            return Ok((self.read_status(Role::Poll).await?, None));
        };
        let latest = self.soon(Duration::MAX);
        let limit = latest.min(Instant::now() + board.interval * 3);
        match board.sweep_after(Some(*after), limit).await {
            Some(sweep) => {
                *after = sweep.started;
                match sweep.statuses.get(&self.domain) {
                    Some(status) => {
                        self.note_status(status);
                        let mut p = self.progress();
                        p.poll_ids.clear();
                        p.poll_ids.extend(sweep.request_ids.iter().cloned());
                        drop(p);
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

    /// Polls the status until the domain leaves `configuring`.
    async fn wait_until_settled(&self) -> Step<DomainStatus> {
        let mut after = Instant::now();
        for n in 0.. {
            let not_before = Instant::now() + decide::poll_delay(n);
            let (status, _) = self.poll(&mut after, not_before).await?;
            info!(
                status = status.as_str(),
                poll = n + 1,
                "waiting for the domain to settle"
            );
            if !matches!(status, DomainStatus::Configuring | DomainStatus::Other(_)) {
                return Ok(status);
            }
        }
        unreachable!("the loop returns")
    }

    /// What the run's first sweep shows of this domain (`None` when the run has no board, or
    /// the sweep does not come or does not list it).
    async fn snapshot(&self) -> Option<Swept> {
        let mut board = self.board.clone()?;
        let limit = self.soon(self.cfg.request_timeout * 2);
        let sweep = board.sweep_after(None, limit).await?;
        let status = sweep.statuses.get(&self.domain)?.clone();
        let entry = sweep.https.get(&self.domain).cloned();
        self.note_status(&status);
        let mut p = self.progress();
        p.previous_not_after = entry.as_ref().and_then(BulkEntry::not_after);
        p.kept_ids.extend(sweep.request_ids.iter().cloned());
        Some(Swept { status, entry })
    }

    /// Hands the domain to the batch writer and records how it went.
    async fn batch_write(&self, batcher: &Batcher, key: BatchKey, sample: bool) -> Step<Batched> {
        let before = self.phase();
        let progress = self.progress.clone();
        let hook: BatchHook = Arc::new(move |event| {
            let mut p = lock(&progress);
            match event {
                BatchEvent::Sent => p.phase = p.phase.max(Phase::MaybeWritten),
                BatchEvent::Throttled(error) => {
                    p.phase = before;
                    p.refusal = Some((Status::Skipped, error));
                }
            }
        });
        match batcher.write(&self.domain, key, sample, hook).await {
            BatchReply::Written { request_id } => {
                self.record_call(Role::Write, request_id.as_deref());
                info!(request_id = request_id.as_deref(), "batch write accepted");
                self.written();
                Ok(Batched::Written)
            }
            BatchReply::Alone => {
                self.set_phase(before);
                Ok(Batched::Alone)
            }
            BatchReply::Refused(status, error) => {
                self.record_call(Role::Write, None);
                warn!(reason = %error.message, "the batch write refused this domain; writing it alone");
                self.refused(before, status, error);
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

    pub(super) async fn run(&self) -> Outcome {
        match self.deploy().await {
            Ok(o) | Err(o) => o,
        }
    }

    async fn deploy(&self) -> Step<Outcome> {
        // Queued, or an earlier attempt's write (which stays what the CDN received).
        let start = self.phase();
        if self.client.auth_failed() {
            return Err(failure(&CdnError::AuthStopped, start));
        }
        self.set_phase(start.max(Phase::Reading));
        let batches = self.batcher.is_some();
        let mut machine = Machine::new(self.job.clone(), batches, self.cfg.max_attempts)
            .written_before(start == Phase::MaybeWritten);
        let mut flow = Flow::default();
        let sighting = self.look().await;
        let mut action = machine.next(Event::Swept(sighting), Instant::now());
        loop {
            let event = match action {
                Action::ReadStatus => self.status_step().await?,
                Action::ReadConfigs { status } => self.configs_step(&mut flow, status).await?,
                Action::Settle => {
                    self.wait_until_settled().await?;
                    Event::Waited
                }
                Action::Offer => Event::Batched(Box::pin(self.offer(&mut flow)).await?),
                Action::Write(put) => Box::pin(self.write_step(&mut flow, *put)).await,
                Action::WaitThenWrite { error, backoff } => {
                    let before = flow.before_write;
                    self.refused(before, Status::Skipped, error_info(&error));
                    if !self.nap(retry_wait(&error, backoff)).await {
                        return Err(failure(&error, before));
                    }
                    Event::Waited
                }
                Action::SettleThenRead { error } => {
                    self.refused(flow.before_write, Status::Skipped, error_info(&error));
                    info!("the domain is busy with another change; waiting for it to settle");
                    self.wait_until_settled().await?;
                    Event::Waited
                }
                Action::PauseThenRead { error, backoff } => {
                    if !self.nap(retry_wait(&error, backoff)).await {
                        return Err(failure(&error, self.phase()));
                    }
                    Event::Waited
                }
                Action::Confirm => {
                    if self.phase() == Phase::MaybeWritten {
                        info!("the earlier write was applied after all");
                        self.written();
                    }
                    Event::Accepted(self.accepted(flow.written.as_ref()))
                }
                Action::After(Do::End(done)) => return Ok(self.done(done)),
                Action::After(next) => {
                    let restoring = machine.restoring();
                    Event::After(Box::pin(self.after(next, &mut flow, restoring)).await?)
                }
                Action::End(ending) => return Ok(self.end(ending, flow.before_write)),
            };
            action = machine.next(event, Instant::now());
        }
    }

    /// How a domain ends without a confirmation.
    fn end(&self, ending: Ending, before_write: Phase) -> Outcome {
        let skipped =
            |code: ErrorCode, why: String| Outcome::err(Status::Skipped, ErrorInfo::new(code, why));
        match ending {
            Ending::Unchanged => Outcome::ok(Status::Unchanged, "already serves this certificate"),
            Ending::Unavailable(why) => skipped(ErrorCode::DomainUnavailable, why),
            Ending::SmInUse => skipped(
                ErrorCode::SmCertificateInUse,
                "the domain serves an SM (national cryptography) certificate: writing this international certificate would remove it, and its private key cannot be read back, so nothing was written".into(),
            ),
            Ending::NewerLive(served) => skipped(
                ErrorCode::NewerCertificateLive,
                format!(
                    "the domain serves a certificate for the same names that expires {}, later than this one ({}): nothing was written; set options.force to replace it",
                    rfc3339(served),
                    self.job.incoming.as_ref().map_or_else(String::new, |i| rfc3339(i.not_after)),
                ),
            ),
            Ending::Planned(put) => Outcome::ok(
                Status::Planned,
                format!(
                    "would write the certificate (http2 {}, tls {}, ocsp stapling {})",
                    put.http2_status.as_deref().unwrap_or("not set"),
                    put.tls_version.as_deref().unwrap_or("default"),
                    put.ocsp_stapling_status.as_deref().unwrap_or("default"),
                ),
            ),
            Ending::OutOfBudget => out_of_budget(&self.progress()),
            // A write that may have been applied keeps its phase; one refused goes back.
            Ending::Failed(e) if matches!(e.kind(), ErrorKind::Server | ErrorKind::Transport) => {
                failure(&e, self.phase())
            }
            Ending::Failed(e) => {
                self.set_phase(before_write);
                failure(&e, before_write)
            }
        }
    }

    /// What the run's first sweep shows of the domain, for the machine to judge.
    async fn look(&self) -> Option<Sighting> {
        let seen = self.snapshot().await?;
        let serves = seen.entry.as_ref().and_then(|e| e.serves(&self.job.target));
        info!(
            status = seen.status.as_str(),
            serves_new_certificate = serves,
            "read the domain from the bulk snapshot"
        );
        Some(Sighting {
            status: seen.status,
            serves,
        })
    }

    /// The domain's status: a fresh sweep's (which may show a write whose answer was lost
    /// applied after all), else its own read.
    async fn status_step(&self) -> Step<Event> {
        let (status, entry) = match &self.board {
            Some(_) => {
                let now = Instant::now();
                self.poll(&mut now.clone(), now).await?
            }
            None => (self.read_status(Role::Read).await?, None),
        };
        Ok(Event::Status {
            status,
            serves: entry.and_then(|e| e.serves(&self.job.target)),
            maybe_written: self.phase() == Phase::MaybeWritten,
        })
    }

    /// The domain's full config; the first one, before any write of this run may be applied, is
    /// what the writes must keep and are proved against.
    async fn configs_step(&self, flow: &mut Flow, status: DomainStatus) -> Step<Event> {
        let maybe_written = self.phase() == Phase::MaybeWritten;
        // A domain written already (its answer lost) reads before those not yet written.
        let configs = if maybe_written {
            self.read_configs(Role::Read).await?
        } else {
            self.first_read().await?
        };
        let https = configs.https.as_ref();
        if !maybe_written {
            self.progress().previous_not_after = https.and_then(decide::served_not_after);
            flow.before = Some(configs.clone());
        }
        info!(
            status = status.as_str(),
            https = https.and_then(|h| h.https_status.as_deref()),
            serves_new_certificate = decide::serves(https, &self.job.target),
            "read the domain"
        );
        flow.configs = Some(configs.clone());
        Ok(Event::Configs {
            status,
            configs: Box::new(configs),
            maybe_written,
        })
    }

    /// The latest a domain waits for its class's proof before it is written as a sample itself:
    /// time for a write and a poll or two before the deadline.
    fn proof_limit(&self) -> Instant {
        let latest = last_call_by(self.deadline);
        latest
            .checked_sub(self.cfg.request_timeout * 2)
            .unwrap_or(latest)
            .max(Instant::now())
    }

    /// Offers the write the last read decided to the batch writer, when the domain has nothing
    /// the batch call could lose and the batch call is trusted (or being proved) for its class.
    async fn offer(&self, flow: &mut Flow) -> Step<Batched> {
        let (Some(batcher), Some(configs)) = (&self.batcher, &flow.configs) else {
            return Ok(Batched::Declined);
        };
        let key = match settings::batch_key(configs, &self.job.overrides) {
            Ok(key) => key,
            Err(why) => {
                info!(reason = %why, "written alone");
                return Ok(Batched::Declined);
            }
        };
        let class = settings::class_of(configs);
        let ticket = match self
            .prover
            .admit(WriteKind::Batch, &class, self.proof_limit())
            .await
        {
            Admission::Distrusted => {
                info!("written alone: the batch call changed a setting earlier in this run");
                return Ok(Batched::Declined);
            }
            Admission::Trusted => None,
            Admission::Sample(t) => {
                info!(class = %class, "batched as the sample that proves the batch call for its class");
                Some(t)
            }
        };
        let sample = ticket.is_some();
        let before = flow.before.clone().unwrap_or_else(|| configs.clone());
        let batched = Box::pin(self.batch_write(batcher, key, sample)).await?;
        if matches!(batched, Batched::Written | Batched::Retry) {
            flow.written = Some(Written {
                kind: WriteKind::Batch,
                before,
                ticket,
            });
        }
        Ok(batched)
    }

    /// One per-domain write of `put`, carrying every setting the last full read showed.
    async fn write_alone(&self, put: &FullPut) -> Result<(), CdnError> {
        let eps = self.job.enterprise_project_id.as_deref();
        self.once(
            Role::Write,
            "UpdateDomainFullConfig",
            self.write_opts(),
            |o| {
                self.client
                    .update_configs(&self.domain, eps, put.configs(), o)
            },
        )
        .await?;
        info!("write accepted");
        self.written();
        Ok(())
    }

    /// The per-domain write of the https block the machine decided, with every other setting of
    /// the last full read, admitted by the prover (a sample until its class is proven).
    async fn write_step(&self, flow: &mut Flow, https: HttpsPut) -> Event {
        let Some(configs) = flow.configs.as_ref() else {
            return Event::Refused(CdnError::BudgetSpent);
        };
        let put = decide::full_put(configs, https);
        let class = settings::alone_class_of(configs);
        let ticket = match self
            .prover
            .admit(WriteKind::Alone, &class, self.proof_limit())
            .await
        {
            Admission::Sample(t) => Some(t),
            Admission::Trusted | Admission::Distrusted => None,
        };
        let before = flow.before.clone().unwrap_or_else(|| configs.clone());
        flow.before_write = self.phase();
        let result = self.write_alone(&put).await;
        let applied = match &result {
            Ok(()) => true,
            Err(e) => matches!(e.kind(), ErrorKind::Server | ErrorKind::Transport),
        };
        if applied {
            flow.written = Some(Written {
                kind: WriteKind::Alone,
                before,
                ticket,
            });
        }
        match result {
            Ok(()) => Event::Written,
            Err(e) => Event::Refused(e),
        }
    }

    /// The write to confirm, as the machine needs to know it.
    fn accepted(&self, written: Option<&Written>) -> Accepted {
        match written {
            Some(w) => Accepted {
                kind: w.kind,
                sample: w.ticket.is_some(),
                distrusted: self.prover.distrusted(w.kind),
                before: Some(Box::new(w.before.clone())),
            },
            // Nothing known of a write to prove against: it is confirmed only.
            None => Accepted {
                kind: WriteKind::Alone,
                sample: false,
                distrusted: false,
                before: None,
            },
        }
    }

    /// Performs one step of the confirmation and says what it observed ([`lost`]: the budget's
    /// end).
    async fn after(&self, next: Do, flow: &mut Flow, restoring: bool) -> Step<Seen> {
        let kind = flow.written.as_ref().map_or(WriteKind::Alone, |w| w.kind);
        match next {
            Do::Poll { not_before, note } => {
                if let Some(note) = note {
                    self.progress().last_status = Some(note.into());
                }
                let written_at = self.progress().written_at.unwrap_or_else(Instant::now);
                flow.swept_after = flow.swept_after.max(Some(written_at));
                let mut after = flow.swept_after.unwrap_or(written_at);
                let polled = self.poll(&mut after, not_before).await;
                flow.swept_after = Some(after);
                flow.polls += 1;
                match polled {
                    Ok((status, entry)) => {
                        info!(status = status.as_str(), poll = flow.polls, "poll");
                        Ok(Seen::Polled {
                            serves: entry.and_then(|e| e.serves(&self.job.target)),
                            status,
                            distrusted: self.prover.distrusted(kind),
                        })
                    }
                    Err(o) if restoring => Ok(lost(o)),
                    Err(o) => Err(o),
                }
            }
            Do::ReadConfigs => match self.read_configs(Role::Poll).await {
                Ok(c) => Ok(Seen::Configs(Some(Box::new(c)))),
                Err(o) if restoring => Ok(lost(o)),
                Err(o) => Err(o),
            },
            Do::ReadBack => Ok(Seen::Configs(self.read_back().await.map(Box::new))),
            Do::Judge { kind, kept } => {
                match flow.written.as_mut().and_then(|w| w.ticket.take()) {
                    Some(t) => t.verdict(kept),
                    None if !kept => self.prover.distrust(kind),
                    None => {}
                }
                match kept {
                    true => info!("read back in full: every setting as before"),
                    false => {
                        warn!(call = ?kind, "the write changed settings the request did not ask to change; writing them back")
                    }
                }
                Ok(Seen::Judged)
            }
            Do::Restore(put) => Ok(Seen::Restored(self.write_back(&put).await)),
            Do::End(_) => unreachable!("the driver ends the domain itself"),
        }
    }

    /// The full config once more, given up a second before the deadline (a domain live with the
    /// certificate is reported so, whatever else is throttled); `None` when it could not be read.
    async fn read_back(&self) -> Option<Configs> {
        let by = last_call_by(self.deadline);
        let d = &self.domain;
        let eps = self.job.enterprise_project_id.as_deref();
        let opts = || CallOptions::new(self.cfg.request_timeout, by);
        retrying(by, u32::MAX, || {
            self.once(Role::Poll, "ShowDomainFullConfig", opts(), |o| {
                self.client.show_full_config(d, eps, o)
            })
        })
        .await
        .ok()
    }

    /// Writes back what a write changed; why not, when it was not accepted.
    async fn write_back(&self, put: &FullPut) -> Result<(), String> {
        let eps = self.job.enterprise_project_id.as_deref();
        let written = retrying(self.deadline, self.cfg.max_attempts, || {
            self.once(Role::Write, "UpdateDomainFullConfig", self.opts(), |o| {
                self.client
                    .update_configs(&self.domain, eps, put.configs(), o)
            })
        })
        .await;
        match written {
            Ok(()) => {
                self.written();
                Ok(())
            }
            Err(e) => Err(error_info(&e).message),
        }
    }

    /// How a confirmed write ends, as the result says it.
    fn done(&self, done: Done) -> Outcome {
        let deployed = "online with the new certificate";
        let names = |c: &[Change]| c.iter().map(|c| c.setting).collect::<Vec<_>>().join(", ");
        match done {
            Done::Submitted => Outcome::ok(
                Status::Submitted,
                "write accepted; not waiting for it to go live (wait: false)",
            ),
            Done::Deployed => Outcome::ok(Status::Deployed, deployed),
            Done::NotReadBack => {
                warn!("live with the new certificate; its settings could not be read back to prove the write");
                Outcome::ok(
                    Status::Deployed,
                    "online with the new certificate; its settings could not be read back within the budget to prove the write",
                )
            }
            Done::ConfigureFailed => Outcome::err(
                Status::Failed,
                ErrorInfo::new(
                    ErrorCode::ConfigureFailed,
                    "the CDN accepted the certificate but the domain ended `configure_failed`",
                ),
            ),
            Done::Restored(changes) => {
                let message = format!(
                    "{deployed}; the write changed {}, written back at once",
                    names(&changes)
                );
                let mut o = Outcome::ok(Status::Deployed, message);
                o.changes = changes;
                o
            }
            Done::SettingsChanged { changes, why } => {
                let was: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{} was {}", c.setting, c.before))
                    .collect();
                let message = format!(
                    "the certificate is live, but the write changed settings the request did not ask to change ({}); {why}",
                    was.join("; ")
                );
                let error = ErrorInfo::new(ErrorCode::SettingsChanged, message);
                let mut o = Outcome::err(Status::Failed, error);
                o.changes = changes;
                o
            }
        }
    }
}
