//! Whether the batch call keeps TLS versions and OCSP stapling. UpdateDomainMultiCertificates
//! cannot set them, and the API reference does not say whether it keeps or resets them, so each
//! run with many domains finds out: a few probe domains (up to three rounds of them while they
//! cannot tell) are read in full before their batched write and again right after it. Until the probes have spoken, the other domains wait; when
//! the batch call is seen to keep both settings, they are batched from the bulk snapshot with no
//! read of their own; otherwise they are read in full first, so that what the batch resets can
//! be restored.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::info;

/// What the run knows of the batch call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// The probes have not all spoken yet.
    Unknown,
    /// Seen to keep TLS versions and OCSP stapling.
    Keeps,
    /// Seen to change one of them.
    Resets,
    /// The probes could not tell (too few were batched, or they all had the same values).
    Undecided,
}

/// One probe's TLS versions and OCSP stapling before and after its batched write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub before: Settings,
    pub after: Settings,
}

/// Judges the probes. A change in any of them means the call resets. Unchanged values prove it
/// keeps them only if the probes held at least two different values of each setting: a reset to
/// one fixed value would have changed at least one of them.
pub fn judge(observations: &[Observation]) -> Semantics {
    let changed = |b: &Option<String>, a: &Option<String>| b.is_some() && b != a;
    if observations
        .iter()
        .any(|o| changed(&o.before.0, &o.after.0) || changed(&o.before.1, &o.after.1))
    {
        return Semantics::Resets;
    }
    let distinct = |f: fn(&Observation) -> &Option<String>| {
        observations
            .iter()
            .filter_map(|o| f(o).as_deref())
            .collect::<HashSet<_>>()
            .len()
    };
    if distinct(|o| &o.before.0) >= 2 && distinct(|o| &o.before.1) >= 2 {
        Semantics::Keeps
    } else {
        Semantics::Undecided
    }
}

/// TLS versions and OCSP stapling, as a probe saw them.
pub type Settings = (Option<String>, Option<String>);

/// Whether a batched write would change `current`, by what the probes saw: a setting the call
/// was seen to change is kept only where the domain already holds the one value the call left
/// on every probe. Such a domain is better written alone at once than batched and repaired: no
/// second write, and its settings never read wrong in between.
pub fn batch_would_change(observations: &[Observation], current: &Settings) -> bool {
    let would_change = |f: fn(&Settings) -> &Option<String>| {
        let seen_changing = observations
            .iter()
            .any(|o| f(&o.before).is_some() && f(&o.before) != f(&o.after));
        let Some(value) = f(current).as_deref() else {
            // Unset: a write of its own would leave the CDN's default too.
            return false;
        };
        let left: HashSet<Option<&str>> = observations
            .iter()
            .map(|o| f(&o.after).as_deref())
            .collect();
        seen_changing && left != HashSet::from([Some(value)])
    };
    would_change(|s| &s.0) || would_change(|s| &s.1)
}

/// How a domain that the snapshot would batch goes on.
#[derive(Debug)]
pub enum Admission {
    /// Batch it with no read of its own.
    Fast,
    /// Read it in full, batch it, read it again and report.
    Probe(Probe),
    /// Read it in full first.
    Read,
}

/// The run's learner, shared by its domains.
#[derive(Debug)]
pub struct Learner {
    tx: watch::Sender<Semantics>,
    slots: AtomicUsize,
    probes: usize,
    /// Reports of this round, every observation so far, rounds left after this one.
    reports: Mutex<(usize, Vec<Observation>, usize)>,
}

/// Rounds of probes before the learner gives up (an account whose domains all share their TLS
/// and OCSP values cannot tell, and is then read in full).
const ROUNDS: usize = 3;

impl Learner {
    /// A learner that asks `probes` domains at a time, for up to three rounds.
    pub fn new(probes: usize) -> Arc<Self> {
        let (tx, _) = watch::channel(Semantics::Unknown);
        Arc::new(Self {
            tx,
            slots: AtomicUsize::new(probes),
            probes,
            reports: Mutex::new((0, Vec::new(), ROUNDS - 1)),
        })
    }

    /// What the run knows so far.
    pub fn semantics(&self) -> Semantics {
        *self.tx.borrow()
    }

    /// Admits a domain: a probe while probe places are left, then (once the probes have spoken,
    /// or at `limit`) fast or read.
    pub async fn admit(self: &Arc<Self>, limit: Instant) -> Admission {
        let mut rx = self.tx.subscribe();
        loop {
            match *rx.borrow_and_update() {
                Semantics::Keeps => return Admission::Fast,
                Semantics::Resets | Semantics::Undecided => return Admission::Read,
                Semantics::Unknown => {}
            }
            let took = self
                .slots
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if took.is_ok() {
                return Admission::Probe(Probe {
                    learner: self.clone(),
                    reported: false,
                });
            }
            if !matches!(
                tokio::time::timeout_at(limit, rx.changed()).await,
                Ok(Ok(()))
            ) {
                return Admission::Read;
            }
        }
    }

    /// Whether, once the call is known to reset, a batched write would change `current`.
    pub fn batch_would_change(&self, current: &Settings) -> bool {
        self.semantics() == Semantics::Resets && {
            let r = self.reports.lock().unwrap_or_else(|e| e.into_inner());
            batch_would_change(&r.1, current)
        }
    }

    fn report(&self, observation: Option<Observation>) {
        let mut r = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        r.1.extend(observation);
        if *self.tx.borrow() != Semantics::Unknown {
            return;
        }
        // A change, or kept values that differed, already settle it; the other probes add
        // nothing. Otherwise the last probe decides.
        let verdict = judge(&r.1);
        if verdict == Semantics::Undecided && r.0 == self.probes && r.2 > 0 {
            // Inconclusive: another round of probes, while the others keep waiting.
            r.0 = 0;
            r.2 -= 1;
            self.slots.store(self.probes, Ordering::SeqCst);
            info!(
                observed = r.1.len(),
                "probes inconclusive so far; probing more domains"
            );
            self.tx.send_replace(Semantics::Unknown);
            return;
        }
        if verdict != Semantics::Undecided || r.0 == self.probes {
            info!(probes = self.probes, observed = r.1.len(), verdict = ?verdict,
                  "learned whether the batch call keeps TLS versions and OCSP stapling");
            self.tx.send_replace(verdict);
        }
    }
}

/// A probe place; a probe dropped without a report counts as one that could not tell.
#[derive(Debug)]
pub struct Probe {
    learner: Arc<Learner>,
    reported: bool,
}

impl Probe {
    /// Reports what the probe saw (`None`: it could not tell, e.g. it was written alone).
    pub fn report(mut self, observation: Option<Observation>) {
        self.reported = true;
        self.learner.report(observation);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if !self.reported {
            self.learner.report(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn obs(before: (&str, &str), after: (&str, &str)) -> Observation {
        let s = |v: &str| Some(v.to_string());
        Observation {
            before: (s(before.0), s(before.1)),
            after: (s(after.0), s(after.1)),
        }
    }

    #[test]
    fn only_a_domain_already_at_the_reset_values_is_batched_after_resets() {
        let s = |t: &str, o: &str| (Some(t.to_string()), Some(o.to_string()));
        // TLS was set to 1.1-1.2 on both probes; OCSP was kept.
        let seen = [
            obs(("TLSv1.2,TLSv1.3", "on"), ("TLSv1.1,TLSv1.2", "on")),
            obs(("TLSv1.1,TLSv1.2", "off"), ("TLSv1.1,TLSv1.2", "off")),
        ];
        assert!(batch_would_change(&seen, &s("TLSv1.2,TLSv1.3", "off")));
        assert!(!batch_would_change(&seen, &s("TLSv1.1,TLSv1.2", "on")));
        assert!(!batch_would_change(&seen, &(None, None)));
        // Probes left different values: nothing is known to be safe.
        let mixed = [obs(("a", "on"), ("b", "on")), obs(("c", "on"), ("c", "on"))];
        assert!(batch_would_change(&mixed, &s("c", "on")));
        // Kept by every probe: no reason to write alone.
        let kept = [
            obs(("a", "on"), ("a", "on")),
            obs(("b", "off"), ("b", "off")),
        ];
        assert!(!batch_would_change(&kept, &s("z", "on")));
    }

    #[test]
    fn a_changed_setting_means_the_call_resets() {
        let o = [
            obs(("TLSv1.2", "on"), ("TLSv1.2", "on")),
            obs(("TLSv1.3", "on"), ("TLSv1.1,TLSv1.2", "on")),
        ];
        assert_eq!(judge(&o), Semantics::Resets);
    }

    #[test]
    fn kept_values_prove_it_only_when_they_differed() {
        let varied = [
            obs(("TLSv1.2", "on"), ("TLSv1.2", "on")),
            obs(("TLSv1.3", "off"), ("TLSv1.3", "off")),
        ];
        assert_eq!(judge(&varied), Semantics::Keeps);
        // Every probe had OCSP off: a reset to off would look the same.
        let same_ocsp = [
            obs(("TLSv1.2", "off"), ("TLSv1.2", "off")),
            obs(("TLSv1.3", "off"), ("TLSv1.3", "off")),
        ];
        assert_eq!(judge(&same_ocsp), Semantics::Undecided);
        assert_eq!(judge(&[]), Semantics::Undecided);
    }

    #[tokio::test(start_paused = true)]
    async fn domains_wait_for_the_probes_then_follow_the_verdict() {
        let learner = Learner::new(2);
        let far = Instant::now() + Duration::from_secs(60);
        let (Admission::Probe(a), Admission::Probe(b)) =
            (learner.admit(far).await, learner.admit(far).await)
        else {
            panic!("the first two domains are probes");
        };
        let waiter = tokio::spawn({
            let l = learner.clone();
            async move { l.admit(far).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "waits while the probes are out");
        a.report(Some(obs(("TLSv1.2", "on"), ("TLSv1.2", "on"))));
        b.report(Some(obs(("TLSv1.3", "off"), ("TLSv1.3", "off"))));
        assert!(matches!(waiter.await.unwrap(), Admission::Fast));
        assert_eq!(learner.semantics(), Semantics::Keeps);
    }

    #[tokio::test(start_paused = true)]
    async fn conclusive_probes_settle_it_before_the_others_report() {
        let learner = Learner::new(3);
        let far = Instant::now() + Duration::from_secs(60);
        let mut probes = Vec::new();
        for _ in 0..3 {
            match learner.admit(far).await {
                Admission::Probe(p) => probes.push(p),
                other => panic!("{other:?}"),
            }
        }
        let slow = probes.pop().unwrap();
        probes
            .pop()
            .unwrap()
            .report(Some(obs(("TLSv1.2", "on"), ("TLSv1.2", "on"))));
        assert_eq!(
            learner.semantics(),
            Semantics::Unknown,
            "one value of each is not enough"
        );
        probes
            .pop()
            .unwrap()
            .report(Some(obs(("TLSv1.3", "off"), ("TLSv1.3", "off"))));
        assert_eq!(learner.semantics(), Semantics::Keeps);
        drop(slow);
        assert_eq!(
            learner.semantics(),
            Semantics::Keeps,
            "a late probe changes nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_counts_and_waiters_fall_back_at_the_limit() {
        let learner = Learner::new(1);
        let soon = Instant::now() + Duration::from_secs(5);
        let probe = learner.admit(soon).await;
        assert!(
            matches!(learner.admit(soon).await, Admission::Read),
            "the limit passed"
        );
        drop(probe);
        // Inconclusive: a new round, up to three.
        for _ in 1..ROUNDS {
            assert_eq!(learner.semantics(), Semantics::Unknown);
            let Admission::Probe(p) = learner.admit(soon).await else {
                panic!("a new probe place");
            };
            drop(p);
        }
        assert_eq!(learner.semantics(), Semantics::Undecided);
        assert!(matches!(learner.admit(soon).await, Admission::Read));
    }
}
