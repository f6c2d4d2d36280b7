//! The domain's machine after its write: confirmation (poll until it reads live with the new
//! certificate) and, where the run has not proved the write's kind and class yet, the proof (read
//! it back in full, compare with the read before, write back what changed, prove the restore).
//! [`Confirmation::on`] is pure: it takes what the domain's I/O observed and the time, and says
//! what to do next; waits are deadlines in the actions, not sleeps.
//!
//! | stage | observation | next |
//! |---|---|---|
//! | (accepted) | `wait: false`, nothing to prove | `Submitted` |
//! | (accepted) | otherwise | `Poll` (after the first poll delay) |
//! | Live | offline/configuring, or online without the certificate | `Poll` again, later |
//! | Live | `configure_failed` | `ConfigureFailed` (a restore: `SettingsChanged`) |
//! | Live | online, the sweep cannot tell the certificate (or a full confirmation) | `ReadConfigs` |
//! | Live | live, a trusted write whose call is still trusted | `Deployed` |
//! | Live | live, a write to prove | its full config in hand, else `ReadBack` |
//! | ReadingBack | not read within the budget | `NotReadBack` (live, unproved) |
//! | ReadingBack | read, not yet serving the certificate | `Poll` with full reads |
//! | (compared) | any | `Judge` (the prover learns whether the write kept everything) |
//! | Judging | nothing changed | `Deployed` |
//! | Judging | settings changed | `Restore` (every setting as before) |
//! | Restoring | refused | `SettingsChanged` |
//! | Restoring | accepted | `Poll` with full reads, then compare: `Restored` or `SettingsChanged` |

use std::sync::Arc;

use tokio::time::Instant;

use super::decide::{self, FullPut, Verdict};
use super::job::Job;
use super::proof::WriteKind;
use super::settings::{self, Change};
use crate::huawei::model::{Configs, DomainStatus};

/// A write the CDN accepted (or whose lost answer was found applied), as the driver knows it.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub kind: WriteKind,
    /// The write is the sample that proves its kind and class.
    pub sample: bool,
    /// Its call was caught changing a setting earlier in the run.
    pub distrusted: bool,
    /// The domain's full read before any write of this run (`None`: nothing to prove against).
    pub before: Option<Box<Configs>>,
}

/// What the domain's I/O observed since the last action.
#[derive(Debug, Clone)]
pub enum Seen {
    /// A poll: the status, whether the sweep shows the new certificate (`None`: it cannot tell),
    /// and whether the write's call is distrusted by now.
    Polled {
        status: DomainStatus,
        serves: Option<bool>,
        distrusted: bool,
    },
    /// The full config asked for (`None`: it could not be read within the budget).
    Configs(Option<Box<Configs>>),
    /// The prover has the verdict.
    Judged,
    /// The restoring write: accepted, or why not.
    Restored(Result<(), String>),
    /// The budget ended a restore's stage (why). Elsewhere the driver ends the domain as far as
    /// it got, without asking.
    Lost(String),
}

/// What to do next.
#[derive(Debug, Clone)]
pub enum Do {
    /// Poll the domain's status: its own read no earlier than `not_before`, or the next sweep.
    /// `note`: what the last poll showed, for a domain that ends `pending`.
    Poll {
        not_before: Instant,
        note: Option<&'static str>,
    },
    /// Read the full config now (answered with [`Seen::Configs`]).
    ReadConfigs,
    /// Read the full config, retried until a second before the deadline.
    ReadBack,
    /// Tell the prover whether the write kept every setting.
    Judge {
        kind: WriteKind,
        kept: bool,
    },
    /// Write back what the write changed.
    Restore(Box<FullPut>),
    End(Done),
}

/// How a confirmed write ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// `wait: false`, and the write carried every setting.
    Submitted,
    /// Live with the certificate (and proved, where it had to be).
    Deployed,
    /// Live with the certificate; its settings could not be read back to prove the write.
    NotReadBack,
    /// The CDN accepted the write, then the domain ended `configure_failed`.
    ConfigureFailed,
    /// Live; the write changed these, and they were written back.
    Restored(Vec<Change>),
    /// Live, but these changed and could not be written back (why).
    SettingsChanged { changes: Vec<Change>, why: String },
}

/// Why the domain is being polled.
#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    /// Confirm a trusted write (proved after all if its call is distrusted meanwhile).
    Trusted,
    /// Confirm, then prove; `strict` once a read back found the certificate not yet served.
    Prove { strict: bool },
    /// Confirm the restore of these.
    Restore(Vec<Change>),
}

/// Polling until live: why, how (`full`: every online poll reads the full config), how often so far.
#[derive(Debug, Clone, PartialEq)]
struct Polling {
    purpose: Purpose,
    full: bool,
    polls: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Live(Polling),
    /// Reading the full config after an online poll that said `status`.
    LiveRead(Polling, DomainStatus),
    ReadingBack,
    Judging(Vec<Change>),
    Restoring(Vec<Change>),
    Done,
}

impl Stage {
    /// The settings being written back, in a restore's stages.
    fn restore(&self) -> Option<&Vec<Change>> {
        match self {
            Stage::Restoring(c)
            | Stage::Live(Polling {
                purpose: Purpose::Restore(c),
                ..
            })
            | Stage::LiveRead(
                Polling {
                    purpose: Purpose::Restore(c),
                    ..
                },
                _,
            ) => Some(c),
            _ => None,
        }
    }
}

impl Polling {
    fn new(purpose: Purpose, full: bool) -> Self {
        Self {
            purpose,
            full,
            polls: 0,
        }
    }
}

/// One domain's confirmation and proof.
#[derive(Debug)]
pub struct Confirmation {
    job: Arc<Job>,
    kind: WriteKind,
    before: Option<Box<Configs>>,
    /// The write's call is distrusted (as of the last poll).
    distrusted: bool,
    stage: Stage,
}

impl Confirmation {
    /// Starts on an accepted write; the first action comes with it.
    pub fn start(job: Arc<Job>, accepted: Accepted, now: Instant) -> (Self, Do) {
        let Accepted {
            kind,
            sample,
            distrusted,
            before,
        } = accepted;
        // A per-domain write carries every setting, so `wait: false` trusts it; a batched one
        // cannot, and a sample of it is proved before the run answers.
        let prove =
            before.is_some() && (sample || distrusted) && (job.wait || kind == WriteKind::Batch);
        let mut c = Self {
            job,
            kind,
            before,
            distrusted,
            stage: Stage::Done,
        };
        if !c.job.wait && !prove {
            return (c, Do::End(Done::Submitted));
        }
        let purpose = if prove {
            Purpose::Prove { strict: false }
        } else {
            Purpose::Trusted
        };
        let first = c.poll(Polling::new(purpose, false), None, now);
        (c, first)
    }

    /// Whether the stage is a restore's: there the budget's end is an ending of its own.
    pub fn restoring(&self) -> bool {
        self.stage.restore().is_some()
    }

    /// The next action, given what was observed at `now`.
    pub fn on(&mut self, seen: Seen, now: Instant) -> Do {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        if let (Some(_), Seen::Lost(why)) = (stage.restore(), &seen) {
            return self.unrestored(stage, format!("writing them back failed: {why}"));
        }
        match (stage, seen) {
            (
                Stage::Live(p),
                Seen::Polled {
                    status,
                    serves,
                    distrusted,
                },
            ) => {
                self.distrusted |= distrusted;
                if status == DomainStatus::Online && (serves.is_none() || p.full) {
                    self.stage = Stage::LiveRead(p, status);
                    return Do::ReadConfigs;
                }
                let verdict = decide::after_poll_detail(&status, serves);
                self.after_poll(verdict, &status, p, None, now)
            }
            (Stage::LiveRead(p, status), Seen::Configs(configs)) => {
                let https = configs.as_ref().and_then(|c| c.https.as_ref());
                let verdict = decide::after_poll(&status, https, &self.job.target);
                self.after_poll(verdict, &status, p, configs, now)
            }
            (Stage::ReadingBack, Seen::Configs(Some(after))) => {
                if decide::serves(after.https.as_ref(), &self.job.target) {
                    self.compare(&after)
                } else {
                    let strict = Purpose::Prove { strict: true };
                    self.poll(Polling::new(strict, true), None, now)
                }
            }
            (Stage::ReadingBack, Seen::Configs(None)) => Do::End(Done::NotReadBack),
            (Stage::Judging(changes), Seen::Judged) => self.restore(changes),
            (stage @ Stage::Restoring(_), Seen::Restored(Err(e))) => {
                self.unrestored(stage, format!("writing them back failed: {e}"))
            }
            (Stage::Restoring(changes), Seen::Restored(Ok(()))) => {
                let restore = Purpose::Restore(changes);
                self.poll(Polling::new(restore, true), None, now)
            }
            // A driver bug: the engine reports a panicking domain from how far it got.
            (stage, seen) => unreachable!("{seen:?} in {stage:?}"),
        }
    }

    /// A restore that did not hold: the settings it was to write back, and why.
    fn unrestored(&mut self, stage: Stage, why: String) -> Do {
        let changes = stage.restore().cloned().unwrap_or_default();
        Do::End(Done::SettingsChanged { changes, why })
    }

    /// The next poll, as data: when, and what the last one showed.
    fn poll(&mut self, p: Polling, note: Option<&'static str>, now: Instant) -> Do {
        let not_before = now + decide::poll_delay(p.polls);
        self.stage = Stage::Live(p);
        Do::Poll { not_before, note }
    }

    /// What a poll's verdict leads to.
    fn after_poll(
        &mut self,
        verdict: Verdict,
        status: &DomainStatus,
        p: Polling,
        configs: Option<Box<Configs>>,
        now: Instant,
    ) -> Do {
        match verdict {
            Verdict::Deployed => self.live(p.purpose, configs),
            Verdict::ConfigureFailed if matches!(p.purpose, Purpose::Restore(_)) => {
                let why = "writing them back failed: the domain ended `configure_failed`";
                self.unrestored(Stage::Live(p), why.into())
            }
            Verdict::ConfigureFailed => Do::End(Done::ConfigureFailed),
            Verdict::Waiting => {
                let note = (*status == DomainStatus::Online)
                    .then_some("online, not yet serving the new certificate");
                let next = Polling {
                    polls: p.polls + 1,
                    ..p
                };
                self.poll(next, note, now)
            }
        }
    }

    /// Live with the certificate: done, or proved (with the full config when a poll read it).
    fn live(&mut self, purpose: Purpose, configs: Option<Box<Configs>>) -> Do {
        match purpose {
            Purpose::Trusted if !self.distrusted || self.before.is_none() => {
                Do::End(Done::Deployed)
            }
            Purpose::Trusted | Purpose::Prove { strict: false } => match configs {
                Some(after) if decide::serves(after.https.as_ref(), &self.job.target) => {
                    self.compare(&after)
                }
                _ => {
                    self.stage = Stage::ReadingBack;
                    Do::ReadBack
                }
            },
            Purpose::Prove { strict: true } => match configs {
                Some(after) => self.compare(&after),
                None => Do::End(Done::NotReadBack),
            },
            Purpose::Restore(changes) => {
                let left = match (&configs, &self.before) {
                    (Some(after), Some(before)) => self.differences(before, after),
                    _ => {
                        return Do::End(Done::SettingsChanged {
                            changes,
                            why: "writing them back failed: the settings could not be read back"
                                .into(),
                        })
                    }
                };
                if left.is_empty() {
                    Do::End(Done::Restored(changes))
                } else {
                    let names: Vec<&str> = left.iter().map(|c| c.setting).collect();
                    Do::End(Done::SettingsChanged {
                        changes,
                        why: format!("{} still differ after writing them back", names.join(", ")),
                    })
                }
            }
        }
    }

    fn differences(&self, before: &Configs, after: &Configs) -> Vec<Change> {
        let overrides = &self.job.overrides;
        settings::changes(&settings::view(before), &settings::view(after), overrides)
    }

    /// The read back in hand: what changed goes to the prover first.
    fn compare(&mut self, after: &Configs) -> Do {
        let changes = match &self.before {
            Some(before) => self.differences(before, after),
            None => Vec::new(),
        };
        let kept = changes.is_empty();
        self.stage = Stage::Judging(changes);
        Do::Judge {
            kind: self.kind,
            kept,
        }
    }

    /// After the verdict: done, or write back every setting as it was.
    fn restore(&mut self, changes: Vec<Change>) -> Do {
        let Some(before) = self.before.as_deref().filter(|_| !changes.is_empty()) else {
            return Do::End(Done::Deployed);
        };
        let job = &self.job;
        let https = decide::https_put(before.https.as_ref(), &job.target, &job.overrides);
        let put = decide::restore_put(before, &changes, https);
        self.stage = Stage::Restoring(changes);
        Do::Restore(Box::new(put))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::Overrides;
    use crate::deploy::target::Target;
    use serde_json::json;

    fn job(wait: bool) -> Arc<Job> {
        Arc::new(Job {
            target: Target::Scm {
                id: "scs-new".into(),
                name: "n".into(),
            },
            enterprise_project_id: None,
            force: false,
            dry_run: false,
            wait,
            overrides: Overrides::default(),
            incoming: None,
            written_before: Default::default(),
        })
    }

    /// A full config serving Certificate Manager certificate `id`, with HSTS as given.
    fn configs(id: &str, hsts: serde_json::Value) -> Box<Configs> {
        Box::new(
            serde_json::from_value(json!({
                "https": {"https_status": "on", "certificate_source": 2,
                          "scm_certificate_id": id, "http2_status": "on"},
                "hsts": hsts,
            }))
            .unwrap(),
        )
    }

    fn before() -> Box<Configs> {
        configs("scs-old", json!({"status": "on", "max_age": 600}))
    }

    fn accepted(kind: WriteKind, sample: bool) -> Accepted {
        Accepted {
            kind,
            sample,
            distrusted: false,
            before: Some(before()),
        }
    }

    fn polled(status: DomainStatus, serves: Option<bool>) -> Seen {
        Seen::Polled {
            status,
            serves,
            distrusted: false,
        }
    }

    fn live() -> Seen {
        polled(DomainStatus::Online, Some(true))
    }

    /// The same settings as before, with the new certificate.
    fn kept() -> Seen {
        Seen::Configs(Some(configs(
            "scs-new",
            json!({"status": "on", "max_age": 600}),
        )))
    }

    /// The new certificate, HSTS switched off.
    fn hsts_lost() -> Seen {
        Seen::Configs(Some(configs("scs-new", json!({"status": "off"}))))
    }

    fn start(wait: bool, a: Accepted) -> (Confirmation, Do, Instant) {
        let now = Instant::now();
        let (c, first) = Confirmation::start(job(wait), a, now);
        (c, first, now)
    }

    #[test]
    fn wait_false_trusts_only_a_write_that_carries_every_setting() {
        let (_, first, _) = start(false, accepted(WriteKind::Alone, true));
        assert!(matches!(first, Do::End(Done::Submitted)));
        // A batched sample cannot carry everything: it is confirmed and proved first.
        let (_, first, _) = start(false, accepted(WriteKind::Batch, true));
        assert!(matches!(first, Do::Poll { .. }));
        // A trusted batched write was proved by its class's sample.
        let (_, first, _) = start(false, accepted(WriteKind::Batch, false));
        assert!(matches!(first, Do::End(Done::Submitted)));
    }

    #[test]
    fn polls_are_deadlines_that_back_off_and_note_what_they_saw() {
        let (mut c, first, now) = start(true, accepted(WriteKind::Batch, false));
        match first {
            Do::Poll { not_before, note } => {
                assert_eq!(not_before, now + decide::poll_delay(0));
                assert_eq!(note, None);
            }
            other => panic!("{other:?}"),
        }
        match c.on(polled(DomainStatus::Online, Some(false)), now) {
            Do::Poll { not_before, note } => {
                assert_eq!(not_before, now + decide::poll_delay(1));
                assert_eq!(note, Some("online, not yet serving the new certificate"));
            }
            other => panic!("{other:?}"),
        }
        match c.on(polled(DomainStatus::Configuring, Some(true)), now) {
            Do::Poll { not_before, note } => {
                assert_eq!(not_before, now + decide::poll_delay(2));
                assert_eq!(
                    note, None,
                    "configuring is not live, whatever the sweep shows"
                );
            }
            other => panic!("{other:?}"),
        }
        // A trusted write is confirmed by the cheap read alone.
        assert!(matches!(c.on(live(), now), Do::End(Done::Deployed)));
    }

    #[test]
    fn a_sweep_that_cannot_tell_the_certificate_has_the_config_read() {
        let (mut c, _, now) = start(true, accepted(WriteKind::Alone, false));
        assert!(matches!(
            c.on(polled(DomainStatus::Online, None), now),
            Do::ReadConfigs
        ));
        assert!(matches!(c.on(kept(), now), Do::End(Done::Deployed)));
        let (mut c, _, now) = start(true, accepted(WriteKind::Alone, false));
        c.on(polled(DomainStatus::Online, None), now);
        // Online with the old certificate: poll again.
        let old = Seen::Configs(Some(before()));
        assert!(matches!(c.on(old, now), Do::Poll { .. }));
    }

    #[test]
    fn configure_failed_ends_the_domain() {
        let (mut c, _, now) = start(true, accepted(WriteKind::Batch, false));
        assert!(matches!(
            c.on(polled(DomainStatus::ConfigureFailed, Some(true)), now),
            Do::End(Done::ConfigureFailed)
        ));
    }

    #[test]
    fn a_sample_is_read_back_and_judged_kept() {
        let (mut c, _, now) = start(true, accepted(WriteKind::Batch, true));
        assert!(matches!(c.on(live(), now), Do::ReadBack));
        assert!(matches!(
            c.on(kept(), now),
            Do::Judge {
                kind: WriteKind::Batch,
                kept: true
            }
        ));
        assert!(matches!(c.on(Seen::Judged, now), Do::End(Done::Deployed)));
    }

    #[test]
    fn a_change_is_judged_written_back_and_its_restore_proved() {
        let (mut c, _, now) = start(true, accepted(WriteKind::Batch, true));
        c.on(live(), now);
        assert!(matches!(
            c.on(hsts_lost(), now),
            Do::Judge { kept: false, .. }
        ));
        let put = match c.on(Seen::Judged, now) {
            Do::Restore(put) => put,
            other => panic!("{other:?}"),
        };
        assert_eq!(put.hsts, Some(json!({"status": "on", "max_age": 600})));
        assert!(c.restoring());
        // The restore is confirmed with full reads, then compared again.
        assert!(matches!(c.on(Seen::Restored(Ok(())), now), Do::Poll { .. }));
        assert!(matches!(c.on(live(), now), Do::ReadConfigs));
        match c.on(kept(), now) {
            Do::End(Done::Restored(changes)) => assert_eq!(changes[0].setting, "hsts"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_restore_that_does_not_hold_fails_the_domain_with_the_settings() {
        let restoring = || {
            let (mut c, _, now) = start(true, accepted(WriteKind::Alone, true));
            c.on(live(), now);
            c.on(hsts_lost(), now);
            c.on(Seen::Judged, now);
            (c, now)
        };
        let settings_changed = |d: Do, why: &str| match d {
            Do::End(Done::SettingsChanged { changes, why: w }) => {
                assert_eq!(changes[0].setting, "hsts");
                assert!(w.contains(why), "{w}");
            }
            other => panic!("{other:?}"),
        };
        let (mut c, now) = restoring();
        settings_changed(
            c.on(Seen::Restored(Err("CDN.0100".into())), now),
            "CDN.0100",
        );
        let (mut c, now) = restoring();
        c.on(Seen::Restored(Ok(())), now);
        c.on(live(), now);
        settings_changed(c.on(hsts_lost(), now), "hsts still differ");
        let (mut c, now) = restoring();
        c.on(Seen::Restored(Ok(())), now);
        settings_changed(c.on(Seen::Lost("budget".into()), now), "budget");
        let (mut c, now) = restoring();
        c.on(Seen::Restored(Ok(())), now);
        settings_changed(
            c.on(polled(DomainStatus::ConfigureFailed, Some(true)), now),
            "configure_failed",
        );
    }

    #[test]
    fn a_trusted_write_whose_call_is_distrusted_meanwhile_is_proved() {
        let (mut c, _, now) = start(true, accepted(WriteKind::Batch, false));
        let distrusted = Seen::Polled {
            status: DomainStatus::Online,
            serves: Some(true),
            distrusted: true,
        };
        assert!(matches!(c.on(distrusted, now), Do::ReadBack));
        assert!(matches!(
            c.on(hsts_lost(), now),
            Do::Judge { kept: false, .. }
        ));
    }

    #[test]
    fn a_read_back_that_fails_or_lags_is_said_or_confirmed_in_full() {
        let (mut c, _, now) = start(true, accepted(WriteKind::Alone, true));
        c.on(live(), now);
        assert!(matches!(
            c.on(Seen::Configs(None), now),
            Do::End(Done::NotReadBack)
        ));
        // The read back still shows the old certificate: confirm with full reads, then compare.
        let (mut c, _, now) = start(true, accepted(WriteKind::Alone, true));
        c.on(live(), now);
        assert!(matches!(
            c.on(Seen::Configs(Some(before())), now),
            Do::Poll { .. }
        ));
        assert!(matches!(c.on(live(), now), Do::ReadConfigs));
        assert!(matches!(c.on(kept(), now), Do::Judge { kept: true, .. }));
    }

    #[test]
    fn nothing_to_prove_against_is_confirmed_only() {
        let a = Accepted {
            before: None,
            ..accepted(WriteKind::Batch, true)
        };
        let (mut c, _, now) = start(true, a);
        assert!(matches!(c.on(live(), now), Do::End(Done::Deployed)));
    }
}
