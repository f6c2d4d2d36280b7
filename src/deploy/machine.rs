//! One domain's deployment written down as a state machine: where it is ([`State`]), what its
//! I/O reports ([`Event`]) and what to do next ([`Action`]). [`Machine::next`] is pure; the
//! domain's flow (`domain.rs`) carries out each action and reports the event it led to.
//!
//! | state | event | next state → action |
//! |---|---|---|
//! | Looking | `Swept`: online with this certificate (no `force`) | Done → `End(Unchanged)` |
//! | Looking | `Swept`: offline, checking, deleting | Done → `End(Unavailable)` |
//! | Looking | `Swept`: online | Reading → `ReadConfigs` (the sweep's status stands for a read) |
//! | Looking | `Swept`: anything else, or not listed | Reading → `ReadStatus` |
//! | Reading | `Status`: a write of this run may be applied, and the sweep shows the certificate | Confirming → `Confirm` |
//! | Reading | `Status` | Reading → `ReadConfigs` |
//! | Reading | `Configs` → [`decide::after_full_read`]: applied after all | Confirming → `Confirm` |
//! | Reading | `Configs` → unchanged, unavailable, SM pair, newer live, dry run | Done → `End` |
//! | Reading | `Configs` → configuring | Settling → `Settle` |
//! | Reading | `Configs` → write | Offered → `Offer` when the run batches and it was not tried, else Writing → `Write` |
//! | Settling | `Waited` | Reading → `ReadStatus` |
//! | Offered | `Batched(Written)` | Confirming → `Confirm` |
//! | Offered | `Batched(Retry)` | Reading → `ReadStatus` (the answer was lost: it may be applied) |
//! | Offered | `Batched(Alone / Declined)` | Writing → `Write` |
//! | Writing | `Written` | Confirming → `Confirm` |
//! | Confirming | `Accepted` (the write as the driver knows it) | Confirming → `After`: [`super::confirm`]'s table |
//! | Confirming | `After(observation)` | Confirming → `After`, until `After(End)` |
//! | Writing | `Refused(throttled)` | Recovering → `WaitThenWrite`, then Writing → `Write` |
//! | Writing | `Refused(busy)` | Recovering → `SettleThenRead`, then Reading → `ReadStatus` |
//! | Writing | `Refused(5xx / lost answer)` | Recovering → `PauseThenRead`, then Reading → `ReadStatus` |
//! | Writing | `Refused(not sent: budget)` | Done → `End(OutOfBudget)` |
//! | Writing | `Refused(rejected, auth, attempts spent)` | Done → `End(Failed)` |
//!
//! Any action may also end the domain on its own when the budget runs out mid-way (a read
//! retried until the deadline, a wait that does not fit): that ending is judged by
//! [`super::outcome`] from how far the domain got.

use std::sync::Arc;

use tokio::time::Instant;

use super::confirm::{Accepted, Confirmation, Do, Seen};
use super::decide::{self, after_write_error, AfterWriteError, Decision, ReadStep};
use super::job::Job;
use crate::huawei::error::CdnError;
use crate::huawei::model::{Configs, DomainStatus, HttpsPut};

/// Where a domain's deployment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Looking at the run's first sweep (or at nothing, when the run has none).
    Looking,
    /// Reading the domain's status and full configuration.
    Reading,
    /// Waiting for the domain to leave `configuring`, to read it again.
    Settling,
    /// Offered to the batch writer.
    Offered,
    /// Written alone, the answer awaited.
    Writing,
    /// A write was not accepted: waiting as its policy says.
    Recovering(AfterWriteError),
    /// Written: confirming it is live (or reporting `submitted`).
    Confirming,
    /// Ended.
    Done,
}

/// What the run's first sweep showed of the domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub status: DomainStatus,
    /// Whether it serves this certificate (`None`: the sweep cannot tell).
    pub serves: Option<bool>,
}

/// How an offer to the batch writer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batched {
    Written,
    /// The batch writer gave the domain back (or refused it): write it alone.
    Alone,
    /// The batch write's answer was lost: it may be applied.
    Retry,
    /// Not handed over (its settings cannot ride the batch call, or the run has not shown the
    /// batch call keeps them): write it alone; a later write may be offered again.
    Declined,
}

/// What the domain's I/O reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run's first sweep (`None`: the run has none, or it does not list the domain).
    Swept(Option<Sighting>),
    /// The domain's status, from its own read or a sweep (which may show the certificate), and
    /// whether a write of this run may have been applied (answers `ReadStatus`).
    Status {
        status: DomainStatus,
        serves: Option<bool>,
        maybe_written: bool,
    },
    /// Its full config (answers `ReadConfigs`).
    Configs {
        status: DomainStatus,
        configs: Box<Configs>,
        maybe_written: bool,
    },
    Batched(Batched),
    /// The per-domain write was accepted.
    Written,
    /// The per-domain write was not accepted.
    Refused(CdnError),
    /// A wait (settling, a refusal's backoff) is over.
    Waited,
    /// The write to confirm, as the driver knows it (answers `Confirm`).
    Accepted(Accepted),
    /// What the confirmation's last action observed.
    After(Seen),
}

/// What the domain's flow does next.
#[derive(Debug, Clone)]
pub enum Action {
    /// Read the domain's status (the next sweep's, or its own).
    ReadStatus,
    /// Read its full config; `status` is what the status read said.
    ReadConfigs {
        status: DomainStatus,
    },
    /// Wait until the domain leaves `configuring`.
    Settle,
    /// Offer the write to the batch writer.
    Offer,
    /// Write the https block alone.
    Write(Box<HttpsPut>),
    /// Throttled (not applied): wait as the answer asks, or back off, then write again.
    WaitThenWrite {
        error: CdnError,
        backoff: u32,
    },
    /// Busy with another change (not applied): wait until it settles, then read again.
    SettleThenRead {
        error: CdnError,
    },
    /// A 5xx or a lost answer (maybe applied): pause, then read again before writing.
    PauseThenRead {
        error: CdnError,
        backoff: u32,
    },
    /// Tell the machine about the write to confirm ([`Event::Accepted`]).
    Confirm,
    /// The confirmation's next step ([`super::confirm::Do`]; its `End` ends the domain).
    After(Do),
    End(Ending),
}

/// How a domain ends without a confirmation.
#[derive(Debug, Clone)]
pub enum Ending {
    Unchanged,
    Unavailable(String),
    SmInUse,
    /// The domain serves a newer certificate for the same names (its expiry, unix seconds).
    NewerLive(i64),
    Planned(Box<HttpsPut>),
    /// The write failed for good.
    Failed(CdnError),
    /// The write was not sent for want of time.
    OutOfBudget,
}

/// One domain's state machine.
#[derive(Debug)]
pub struct Machine {
    job: Arc<Job>,
    state: State,
    /// The run has a batch writer.
    batches: bool,
    /// The domain was handed to the batch writer once: it is not offered again.
    batch_tried: bool,
    /// Per-domain writes so far (the attempt count of the write-error policy).
    writes: u32,
    max_attempts: u32,
    /// The https block the last read decided to write.
    put: Option<Box<HttpsPut>>,
    /// Once written and accepted: its confirmation.
    confirmation: Option<Confirmation>,
    /// An earlier attempt of a workflow wrote the domain and did not see it live.
    written_before: bool,
}

impl Machine {
    pub fn new(job: Arc<Job>, batches: bool, max_attempts: u32) -> Self {
        Self {
            job,
            state: State::Looking,
            batches,
            batch_tried: false,
            writes: 0,
            max_attempts,
            put: None,
            confirmation: None,
            written_before: false,
        }
    }

    /// The machine of a domain an earlier attempt wrote (`written`): a sweep showing the
    /// certificate confirms that write instead of ending `unchanged`.
    pub fn written_before(mut self, written: bool) -> Self {
        self.written_before = written;
        self
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether a restore is being confirmed: there the budget's end is reported as
    /// [`Seen::Lost`] instead of ending the domain as far as it got.
    pub fn restoring(&self) -> bool {
        self.confirmation
            .as_ref()
            .is_some_and(Confirmation::restoring)
    }

    /// The transition for `event` observed at `now`: the new state, and the action it asks for.
    pub fn next(&mut self, event: Event, now: Instant) -> Action {
        let (state, action) = self.step(event, now);
        self.state = state;
        action
    }

    fn step(&mut self, event: Event, now: Instant) -> (State, Action) {
        match event {
            Event::Accepted(accepted) => {
                let (c, first) = Confirmation::start(self.job.clone(), accepted, now);
                self.confirmation = Some(c);
                after(first)
            }
            Event::After(seen) => match &mut self.confirmation {
                Some(c) => after(c.on(seen, now)),
                None => unreachable!("an observation after a write with no write confirmed"),
            },
            Event::Swept(sighting) => self.swept(sighting),
            Event::Status {
                status,
                serves,
                maybe_written,
            } => match maybe_written && serves == Some(true) {
                // Serving the certificate, live or still configuring: the write was applied.
                true => (State::Confirming, Action::Confirm),
                false => (State::Reading, Action::ReadConfigs { status }),
            },
            Event::Configs {
                status,
                configs,
                maybe_written,
            } => {
                let https = configs.https.as_ref();
                let step = decide::after_full_read(maybe_written, &status, https, &self.job);
                self.read(step, &configs)
            }
            Event::Batched(b) => self.batched(b),
            Event::Written => (State::Confirming, Action::Confirm),
            Event::Refused(error) => self.refused(error),
            Event::Waited => match self.state {
                State::Recovering(AfterWriteError::WaitAndWrite) => self.write(),
                _ => (State::Reading, Action::ReadStatus),
            },
        }
    }

    /// The decision on a full read.
    fn read(&mut self, step: ReadStep, configs: &Configs) -> (State, Action) {
        match step {
            ReadStep::AppliedAfterAll => (State::Confirming, Action::Confirm),
            ReadStep::Unchanged => end(Ending::Unchanged),
            ReadStep::Unavailable(why) => end(Ending::Unavailable(why)),
            ReadStep::SmInUse => end(Ending::SmInUse),
            ReadStep::NewerLive(served) => end(Ending::NewerLive(served)),
            // A dry run says what the write would carry, TLS versions from either place included.
            ReadStep::Planned(put) => {
                let put = decide::full_put(configs, put).https;
                end(Ending::Planned(Box::new(put)))
            }
            ReadStep::Settle => (State::Settling, Action::Settle),
            ReadStep::Write(put) => {
                self.put = Some(Box::new(put));
                if self.batches && !self.batch_tried {
                    (State::Offered, Action::Offer)
                } else {
                    self.write()
                }
            }
        }
    }

    fn batched(&mut self, b: Batched) -> (State, Action) {
        match b {
            Batched::Written => (State::Confirming, Action::Confirm),
            Batched::Retry => {
                self.batch_tried = true;
                (State::Reading, Action::ReadStatus)
            }
            Batched::Alone => {
                self.batch_tried = true;
                self.write()
            }
            Batched::Declined => self.write(),
        }
    }

    /// The first sweep's verdict: the domain may end here, or go on to be read (its status
    /// read again unless the sweep saw it online).
    fn swept(&mut self, sighting: Option<Sighting>) -> (State, Action) {
        let Some(Sighting { status, serves }) = sighting else {
            return (State::Reading, Action::ReadStatus);
        };
        // An earlier attempt's write the sweep shows: confirmed as this run's, not unchanged.
        if self.written_before && serves == Some(true) {
            return (State::Confirming, Action::Confirm);
        }
        let force = self.job.force;
        if status == DomainStatus::Online && serves == Some(true) && !force {
            return end(Ending::Unchanged);
        }
        if let Decision::Unavailable(why) =
            decide::after_read(&status, None, &self.job.target, force)
        {
            return end(Ending::Unavailable(why));
        }
        match status {
            DomainStatus::Online => (State::Reading, Action::ReadConfigs { status }),
            _ => (State::Reading, Action::ReadStatus),
        }
    }

    /// The next per-domain write of the block in hand; without one (no read decided a write),
    /// read first.
    fn write(&mut self) -> (State, Action) {
        match &self.put {
            Some(put) => {
                self.writes += 1;
                (State::Writing, Action::Write(put.clone()))
            }
            None => (State::Reading, Action::ReadStatus),
        }
    }

    /// The write-error policy ([`after_write_error`]) for the write just refused.
    fn refused(&mut self, error: CdnError) -> (State, Action) {
        let spent = matches!(error, CdnError::BudgetSpent);
        let policy = after_write_error(error.kind(), spent, self.writes, self.max_attempts);
        let backoff = self.writes.saturating_sub(1);
        let action = match policy {
            AfterWriteError::WaitAndWrite => Action::WaitThenWrite { error, backoff },
            AfterWriteError::SettleAndRead => Action::SettleThenRead { error },
            AfterWriteError::PauseAndRead => Action::PauseThenRead { error, backoff },
            AfterWriteError::OutOfBudget => return end(Ending::OutOfBudget),
            AfterWriteError::End => return end(Ending::Failed(error)),
        };
        (State::Recovering(policy), action)
    }
}

fn end(ending: Ending) -> (State, Action) {
    (State::Done, Action::End(ending))
}

fn after(next: Do) -> (State, Action) {
    let state = match next {
        Do::End(_) => State::Done,
        _ => State::Confirming,
    };
    (state, Action::After(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::Overrides;
    use crate::deploy::target::Target;
    use std::time::Duration;

    fn now() -> Instant {
        Instant::now()
    }

    fn job() -> Arc<Job> {
        Arc::new(Job {
            target: Target::Scm {
                id: "scs1".into(),
                name: "n".into(),
            },
            enterprise_project_id: None,
            force: false,
            dry_run: false,
            wait: true,
            overrides: Overrides::default(),
            incoming: None,
            written_before: Default::default(),
        })
    }

    fn configs(v: serde_json::Value) -> Box<Configs> {
        Box::new(serde_json::from_value(v).unwrap())
    }

    /// A domain with HTTPS off: written.
    fn plain() -> Box<Configs> {
        configs(serde_json::json!({}))
    }

    /// A domain serving the job's certificate.
    fn serving() -> Box<Configs> {
        configs(
            serde_json::json!({"https": {"https_status": "on", "certificate_source": 2,
                                              "scm_certificate_id": "scs1"}}),
        )
    }

    fn read(status: DomainStatus, configs: Box<Configs>, maybe_written: bool) -> Event {
        Event::Configs {
            status,
            configs,
            maybe_written,
        }
    }

    fn write_read() -> Event {
        read(DomainStatus::Online, plain(), false)
    }

    /// A machine that has read the status, ready for the full read.
    fn reading(job: Arc<Job>, batches: bool) -> Machine {
        let mut m = Machine::new(job, batches, 3);
        assert!(matches!(
            m.next(Event::Swept(None), now()),
            Action::ReadStatus
        ));
        let status = Event::Status {
            status: DomainStatus::Online,
            serves: None,
            maybe_written: false,
        };
        assert!(matches!(
            m.next(status, now()),
            Action::ReadConfigs {
                status: DomainStatus::Online
            }
        ));
        m
    }

    fn api(status: u16, code: &str) -> CdnError {
        CdnError::Api {
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
            retry_after: Some(Duration::from_secs(1)),
        }
    }

    fn throttled() -> CdnError {
        api(429, "APIGW.0308")
    }

    fn busy() -> CdnError {
        api(400, "CDN.0106")
    }

    fn lost() -> CdnError {
        CdnError::Transport {
            message: "reset".into(),
            timed_out: false,
        }
    }

    /// A machine that has read the domain and decided to write.
    fn writing(batches: bool, max_attempts: u32) -> (Machine, Action) {
        let mut m = reading(job(), batches);
        m.max_attempts = max_attempts;
        let a = m.next(write_read(), now());
        (m, a)
    }

    fn sighting(status: DomainStatus, serves: Option<bool>) -> Event {
        Event::Swept(Some(Sighting { status, serves }))
    }

    #[test]
    fn the_sweep_may_end_the_domain_or_send_it_to_a_read() {
        let mut m = Machine::new(job(), false, 3);
        assert!(matches!(
            m.next(sighting(DomainStatus::Online, Some(true)), now()),
            Action::End(Ending::Unchanged)
        ));
        assert_eq!(m.state(), State::Done);
        // Forced: read and written.
        let forced = Arc::new(Job {
            force: true,
            ..Job::clone(&job())
        });
        let mut m = Machine::new(forced, false, 3);
        assert!(matches!(
            m.next(sighting(DomainStatus::Online, Some(true)), now()),
            Action::ReadConfigs { .. }
        ));
        let mut m = Machine::new(job(), false, 3);
        match m.next(sighting(DomainStatus::Offline, None), now()) {
            Action::End(Ending::Unavailable(why)) => assert!(why.contains("offline"), "{why}"),
            a => panic!("{a:?}"),
        }
        // Online: the sweep's status stands for a status read; configuring: read it again.
        let mut m = Machine::new(job(), true, 3);
        assert!(matches!(
            m.next(sighting(DomainStatus::Online, Some(false)), now()),
            Action::ReadConfigs {
                status: DomainStatus::Online
            }
        ));
        assert_eq!(m.state(), State::Reading);
        let mut m = Machine::new(job(), true, 3);
        assert!(matches!(
            m.next(sighting(DomainStatus::Configuring, None), now()),
            Action::ReadStatus
        ));
    }

    #[test]
    fn a_read_ends_settles_or_writes() {
        let sm = configs(serde_json::json!({"https": {"https_status": "on",
                                                       "certificate_type": "server_sm"}}));
        let dry = Arc::new(Job {
            dry_run: true,
            ..Job::clone(&job())
        });
        let ends = [
            (
                job(),
                read(DomainStatus::Online, serving(), false),
                "Unchanged",
            ),
            (
                job(),
                read(DomainStatus::Deleting, plain(), false),
                "Unavailable",
            ),
            (job(), read(DomainStatus::Online, sm, false), "SmInUse"),
            (dry, write_read(), "Planned"),
        ];
        for (job, event, name) in ends {
            let mut m = reading(job, true);
            match m.next(event, now()) {
                Action::End(e) => assert!(format!("{e:?}").starts_with(name), "{e:?}"),
                a => panic!("{name}: {a:?}"),
            }
            assert_eq!(m.state(), State::Done);
        }
        // A write that may be applied and shows in the read: confirmed, not written again.
        let mut m = reading(job(), false);
        assert!(matches!(
            m.next(read(DomainStatus::Configuring, serving(), true), now()),
            Action::Confirm
        ));
        let mut m = reading(job(), false);
        assert!(matches!(
            m.next(read(DomainStatus::Configuring, plain(), false), now()),
            Action::Settle
        ));
        assert_eq!(m.state(), State::Settling);
        assert!(matches!(m.next(Event::Waited, now()), Action::ReadStatus));
        assert_eq!(m.state(), State::Reading);
    }

    #[test]
    fn an_earlier_attempts_write_the_sweep_shows_is_confirmed_not_unchanged() {
        let mut m = Machine::new(job(), true, 3).written_before(true);
        assert!(matches!(
            m.next(sighting(DomainStatus::Online, Some(true)), now()),
            Action::Confirm
        ));
        let mut m = Machine::new(job(), true, 3);
        assert!(matches!(
            m.next(sighting(DomainStatus::Online, Some(true)), now()),
            Action::End(Ending::Unchanged)
        ));
    }

    #[test]
    fn a_sweep_showing_a_lost_write_applied_confirms_it() {
        let mut m = Machine::new(job(), true, 3);
        m.next(Event::Swept(None), now());
        let applied = |maybe_written| Event::Status {
            status: DomainStatus::Configuring,
            serves: Some(true),
            maybe_written,
        };
        assert!(matches!(m.next(applied(true), now()), Action::Confirm));
        // Nothing of this run was sent: the certificate is someone else's write; read on.
        let mut m = Machine::new(job(), true, 3);
        m.next(Event::Swept(None), now());
        assert!(matches!(
            m.next(applied(false), now()),
            Action::ReadConfigs { .. }
        ));
    }

    #[test]
    fn a_batching_run_offers_the_write_first() {
        let (_, a) = writing(false, 3);
        assert!(matches!(a, Action::Write(p) if p.certificate_name.as_deref() == Some("n")));
        let (mut m, a) = writing(true, 3);
        assert!(matches!(a, Action::Offer));
        assert_eq!(m.state(), State::Offered);
        assert!(matches!(
            m.next(Event::Batched(Batched::Written), now()),
            Action::Confirm
        ));
    }

    #[test]
    fn a_lost_batch_answer_reads_again_and_then_writes_alone() {
        let (mut m, _) = writing(true, 3);
        assert!(matches!(
            m.next(Event::Batched(Batched::Retry), now()),
            Action::ReadStatus
        ));
        assert!(matches!(m.next(write_read(), now()), Action::Write(_)));
    }

    #[test]
    fn a_declined_offer_writes_alone_and_may_be_offered_again() {
        let (mut m, _) = writing(true, 3);
        assert!(matches!(
            m.next(Event::Batched(Batched::Declined), now()),
            Action::Write(_)
        ));
        // Busy: read again, and the next write is offered again.
        assert!(matches!(
            m.next(Event::Refused(busy()), now()),
            Action::SettleThenRead { .. }
        ));
        assert!(matches!(m.next(Event::Waited, now()), Action::ReadStatus));
        assert!(matches!(m.next(write_read(), now()), Action::Offer));
        // Given back by the batch writer: alone, and never offered again.
        assert!(matches!(
            m.next(Event::Batched(Batched::Alone), now()),
            Action::Write(_)
        ));
        m.next(Event::Refused(busy()), now());
        m.next(Event::Waited, now());
        assert!(matches!(m.next(write_read(), now()), Action::Write(_)));
    }

    #[test]
    fn an_accepted_write_is_confirmed() {
        let (mut m, _) = writing(false, 3);
        assert!(matches!(m.next(Event::Written, now()), Action::Confirm));
        assert_eq!(m.state(), State::Confirming);
    }

    #[test]
    fn the_machine_confirms_the_accepted_write_to_its_end() {
        use crate::deploy::confirm::Done;
        use crate::deploy::proof::WriteKind;
        use crate::huawei::model::DomainStatus;
        let (mut m, _) = writing(false, 3);
        assert!(matches!(m.next(Event::Written, now()), Action::Confirm));
        let accepted = Accepted {
            kind: WriteKind::Alone,
            sample: false,
            distrusted: false,
            before: None,
        };
        assert!(matches!(
            m.next(Event::Accepted(accepted), now()),
            Action::After(Do::Poll { .. })
        ));
        assert_eq!(m.state(), State::Confirming);
        let live = Seen::Polled {
            status: DomainStatus::Online,
            serves: Some(true),
            distrusted: false,
        };
        assert!(matches!(
            m.next(Event::After(live), now()),
            Action::After(Do::End(Done::Deployed))
        ));
        assert_eq!(m.state(), State::Done);
        assert!(!m.restoring());
    }

    #[test]
    fn a_throttled_write_waits_and_writes_again_without_reading() {
        let (mut m, _) = writing(false, 3);
        match m.next(Event::Refused(throttled()), now()) {
            Action::WaitThenWrite { backoff, .. } => assert_eq!(backoff, 0),
            a => panic!("{a:?}"),
        }
        assert_eq!(m.state(), State::Recovering(AfterWriteError::WaitAndWrite));
        assert!(matches!(m.next(Event::Waited, now()), Action::Write(_)));
        match m.next(Event::Refused(throttled()), now()) {
            Action::WaitThenWrite { backoff, .. } => assert_eq!(backoff, 1),
            a => panic!("{a:?}"),
        }
        m.next(Event::Waited, now());
        // The third write is the last attempt.
        assert!(matches!(
            m.next(Event::Refused(throttled()), now()),
            Action::End(Ending::Failed(_))
        ));
    }

    #[test]
    fn a_lost_answer_pauses_and_reads_before_writing_again() {
        let (mut m, _) = writing(false, 3);
        assert!(matches!(
            m.next(Event::Refused(lost()), now()),
            Action::PauseThenRead { backoff: 0, .. }
        ));
        assert!(matches!(m.next(Event::Waited, now()), Action::ReadStatus));
        assert!(matches!(
            m.next(read(DomainStatus::Online, serving(), true), now()),
            Action::Confirm
        ));
        let (mut m, _) = writing(false, 3);
        assert!(matches!(
            m.next(Event::Refused(api(503, "CDN.9999")), now()),
            Action::PauseThenRead { .. }
        ));
    }

    #[test]
    fn rejected_auth_and_budget_end_the_write() {
        for (e, name) in [
            (api(400, "CDN.0170"), "Failed"),
            (api(401, "APIGW.0301"), "Failed"),
            (CdnError::AuthStopped, "Failed"),
            (CdnError::BudgetSpent, "OutOfBudget"),
        ] {
            let (mut m, _) = writing(false, 3);
            match m.next(Event::Refused(e), now()) {
                Action::End(ending) => assert!(format!("{ending:?}").starts_with(name)),
                a => panic!("{name}: {a:?}"),
            }
            assert_eq!(m.state(), State::Done);
        }
    }

    #[test]
    fn attempts_count_across_reads() {
        // Busy twice, then throttled: the third write is the last.
        let (mut m, _) = writing(false, 3);
        for _ in 0..2 {
            m.next(Event::Refused(busy()), now());
            m.next(Event::Waited, now());
            assert!(matches!(m.next(write_read(), now()), Action::Write(_)));
        }
        assert!(matches!(
            m.next(Event::Refused(throttled()), now()),
            Action::End(Ending::Failed(_))
        ));
    }

    #[test]
    fn a_wait_with_no_write_in_hand_reads() {
        let mut m = Machine::new(job(), false, 3);
        m.next(Event::Swept(None), now());
        // A batch answer with no read that decided a write: nothing to write, so read.
        assert!(matches!(
            m.next(Event::Batched(Batched::Declined), now()),
            Action::ReadStatus
        ));
    }
}
