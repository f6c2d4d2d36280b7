//! Every kind of write is proved before it is trusted. The first writes of each call (the batch
//! call, the per-domain call) and of each class of domain ([`super::settings::class_of`]) are
//! read back in full once live and compared with the read before; later writes of a proven kind
//! and class are confirmed by the cheap reads. A write that changed what the request did not ask
//! for makes its call trusted no more for the run: a batched domain is then written alone, and
//! every domain written alone is proved.
//!
//! A batched write is made only on a domain with nothing to lose, but the batch call cannot
//! carry everything, so the domains of a class wait for their class's proof (one domain, a
//! propagation) before they are batched. A per-domain write carries every setting; in a large
//! run its domains wait for their class's proof too (else every domain written before the first
//! proof would need a read back of its own), in a small one nothing waits and each write made
//! before its class is proven is proved itself.
//!
//! [`Proofs`] is pure (the clock passed in); [`Prover`] shares it among a run's domains and
//! lets batched domains wait for a verdict.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Which call wrote a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// UpdateDomainMultiCertificates.
    Batch,
    /// UpdateDomainFullConfig, carrying every setting.
    Alone,
}

/// What a domain about to be written with a kind of write is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Proven for its class: confirm the write by the cheap reads.
    Trusted,
    /// Write it and prove the write (read it back in full once live).
    Sample,
    /// Its class is being proved: wait for the verdict.
    Wait,
    /// This kind changed a setting in this run: use the per-domain call.
    Distrusted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A sample is out since then.
    Proving(Instant),
    Proven,
}

/// What the run has proved of each kind and class of write.
#[derive(Debug)]
pub struct Proofs {
    classes: HashMap<(WriteKind, String), Class>,
    distrusted: HashSet<WriteKind>,
    /// How long domains wait for a sample before another is sent (a sample may be stuck, or
    /// slow to go live).
    patience: Duration,
    /// Whether per-domain writes wait for their class's sample (a large run).
    alone_waits: bool,
}

impl Proofs {
    pub fn new(patience: Duration, alone_waits: bool) -> Self {
        Self {
            classes: HashMap::new(),
            distrusted: HashSet::new(),
            patience,
            alone_waits,
        }
    }

    fn waits(&self, kind: WriteKind) -> bool {
        kind == WriteKind::Batch || self.alone_waits
    }

    /// The admission of a domain of `class` to a write of `kind`, at `now`.
    pub fn admit(&mut self, kind: WriteKind, class: &str, now: Instant) -> Admit {
        if self.distrusted.contains(&kind) {
            return match kind {
                WriteKind::Batch => Admit::Distrusted,
                WriteKind::Alone => Admit::Sample,
            };
        }
        let key = (kind, class.to_string());
        match self.classes.get(&key).copied() {
            Some(Class::Proven) => Admit::Trusted,
            Some(Class::Proving(since)) if self.waits(kind) && now < since + self.patience => {
                Admit::Wait
            }
            _ => {
                if self.waits(kind) || !self.classes.contains_key(&key) {
                    self.classes.insert(key, Class::Proving(now));
                }
                Admit::Sample
            }
        }
    }

    /// When a domain told to wait should ask again, if no verdict comes first.
    pub fn patience_ends(&self, kind: WriteKind, class: &str) -> Option<Instant> {
        match self.classes.get(&(kind, class.to_string())) {
            Some(Class::Proving(since)) => Some(*since + self.patience),
            _ => None,
        }
    }

    /// A sample's verdict: its write left every setting as it was, or not.
    pub fn verdict(&mut self, kind: WriteKind, class: &str, kept: bool) {
        if kept {
            if !self.distrusted.contains(&kind) {
                self.classes
                    .insert((kind, class.to_string()), Class::Proven);
            }
        } else {
            self.distrusted.insert(kind);
        }
    }

    /// A sample that will not be proved (it failed, or the budget ended): another domain of its
    /// class may be the next sample.
    pub fn abandon(&mut self, kind: WriteKind, class: &str) {
        let key = (kind, class.to_string());
        if matches!(self.classes.get(&key), Some(Class::Proving(_))) {
            self.classes.remove(&key);
        }
    }

    /// Whether a write of `kind` is trusted no more: every domain written with it is proved.
    pub fn distrusted(&self, kind: WriteKind) -> bool {
        self.distrusted.contains(&kind)
    }
}

/// [`Proofs`] shared by a run's domains.
#[derive(Debug, Clone)]
pub struct Prover {
    proofs: Arc<Mutex<Proofs>>,
    /// Bumped at every verdict or abandoned sample, to wake the domains that wait.
    news: Arc<watch::Sender<u64>>,
}

/// A sample's duty to report: dropped without a verdict (the domain failed, or its task ended),
/// it abandons the sample so that another domain may prove the class.
#[derive(Debug)]
pub struct Ticket {
    prover: Prover,
    pub kind: WriteKind,
    pub class: String,
    done: bool,
}

impl Ticket {
    /// Reports the verdict of the read back.
    pub fn verdict(mut self, kept: bool) {
        self.done = true;
        self.prover
            .with(|p| p.verdict(self.kind, &self.class, kept));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.prover.with(|p| p.abandon(self.kind, &self.class));
        }
    }
}

/// How a domain is to be written, as the prover admitted it.
#[derive(Debug)]
pub enum Admission {
    Trusted,
    /// Write it, and prove the write with this ticket.
    Sample(Ticket),
    /// Use the per-domain call instead.
    Distrusted,
}

impl Prover {
    /// A run's prover; `alone_waits`: per-domain writes wait for their class's sample too.
    pub fn new(patience: Duration, alone_waits: bool) -> Self {
        Self {
            proofs: Arc::new(Mutex::new(Proofs::new(patience, alone_waits))),
            news: Arc::new(watch::channel(0).0),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Proofs) -> T) -> T {
        let out = f(&mut self.proofs.lock().unwrap_or_else(|e| e.into_inner()));
        self.news.send_modify(|n| *n += 1);
        out
    }

    /// Ends the trust in a write of `kind` (a domain written with it, not as a sample, was seen
    /// changed).
    pub fn distrust(&self, kind: WriteKind) {
        self.with(|p| p.verdict(kind, "", false));
    }

    /// Whether a write of `kind` is trusted no more.
    pub fn distrusted(&self, kind: WriteKind) -> bool {
        self.proofs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .distrusted(kind)
    }

    /// Admits a domain of `class` to a write of `kind`, waiting while its class is being proved,
    /// but not past `limit`: then it becomes a sample itself (its write is safe, and proved).
    pub async fn admit(&self, kind: WriteKind, class: &str, limit: Instant) -> Admission {
        let mut news = self.news.subscribe();
        loop {
            let now = Instant::now();
            let (admit, wake) = {
                let mut p = self.proofs.lock().unwrap_or_else(|e| e.into_inner());
                let admit = p.admit(kind, class, now);
                (admit, p.patience_ends(kind, class))
            };
            let wait_until = match admit {
                Admit::Trusted => return Admission::Trusted,
                Admit::Distrusted => return Admission::Distrusted,
                Admit::Sample => return Admission::Sample(self.ticket(kind, class)),
                Admit::Wait if now >= limit => {
                    return Admission::Sample(self.ticket(kind, class));
                }
                Admit::Wait => wake.unwrap_or(limit).min(limit),
            };
            news.borrow_and_update();
            tokio::select! {
                _ = news.changed() => {}
                _ = tokio::time::sleep_until(wait_until) => {}
            }
        }
    }

    fn ticket(&self, kind: WriteKind, class: &str) -> Ticket {
        Ticket {
            prover: self.clone(),
            kind,
            class: class.to_string(),
            done: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENCE: Duration = Duration::from_secs(60);

    #[test]
    fn one_batched_sample_per_class_and_the_others_wait_for_its_verdict() {
        let t0 = Instant::now();
        let mut p = Proofs::new(PATIENCE, false);
        assert_eq!(p.admit(WriteKind::Batch, "a", t0), Admit::Sample);
        assert_eq!(p.admit(WriteKind::Batch, "a", t0), Admit::Wait);
        assert_eq!(
            p.admit(WriteKind::Batch, "b", t0),
            Admit::Sample,
            "each class"
        );
        p.verdict(WriteKind::Batch, "a", true);
        assert_eq!(p.admit(WriteKind::Batch, "a", t0), Admit::Trusted);
        // A stuck sample: after the patience another domain proves the class.
        assert_eq!(p.admit(WriteKind::Batch, "b", t0 + PATIENCE), Admit::Sample);
    }

    #[test]
    fn in_a_large_run_per_domain_writes_wait_for_their_class_too() {
        let t0 = Instant::now();
        let mut p = Proofs::new(PATIENCE, true);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Sample);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Wait);
        p.verdict(WriteKind::Alone, "a", true);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Trusted);
    }

    #[test]
    fn per_domain_writes_of_a_small_run_never_wait_but_are_proved_until_their_class_is() {
        let t0 = Instant::now();
        let mut p = Proofs::new(PATIENCE, false);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Sample);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Sample);
        p.verdict(WriteKind::Alone, "a", true);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Trusted);
    }

    #[test]
    fn a_changed_setting_ends_the_trust_in_its_call() {
        let t0 = Instant::now();
        let mut p = Proofs::new(PATIENCE, false);
        p.admit(WriteKind::Batch, "a", t0);
        p.verdict(WriteKind::Batch, "a", true);
        p.admit(WriteKind::Batch, "b", t0);
        p.verdict(WriteKind::Batch, "b", false);
        assert!(p.distrusted(WriteKind::Batch));
        assert_eq!(p.admit(WriteKind::Batch, "a", t0), Admit::Distrusted);
        p.admit(WriteKind::Alone, "a", t0);
        p.verdict(WriteKind::Alone, "a", false);
        assert_eq!(
            p.admit(WriteKind::Alone, "a", t0),
            Admit::Sample,
            "every later per-domain write is proved"
        );
        // A late good verdict does not trust a distrusted call again.
        p.verdict(WriteKind::Alone, "a", true);
        assert_eq!(p.admit(WriteKind::Alone, "a", t0), Admit::Sample);
    }

    #[test]
    fn an_abandoned_sample_lets_another_domain_prove_the_class() {
        let t0 = Instant::now();
        let mut p = Proofs::new(PATIENCE, false);
        p.admit(WriteKind::Batch, "a", t0);
        p.abandon(WriteKind::Batch, "a");
        assert_eq!(p.admit(WriteKind::Batch, "a", t0), Admit::Sample);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_domain_wakes_at_the_verdict_or_becomes_a_sample_at_its_limit() {
        let prover = Prover::new(PATIENCE, false);
        let far = Instant::now() + Duration::from_secs(3600);
        let sample = match prover.admit(WriteKind::Batch, "a", far).await {
            Admission::Sample(t) => t,
            other => panic!("{other:?}"),
        };
        let waiter = {
            let prover = prover.clone();
            tokio::spawn(async move { prover.admit(WriteKind::Batch, "a", far).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished());
        sample.verdict(true);
        assert!(matches!(waiter.await.unwrap(), Admission::Trusted));
        // Dropped without a verdict: abandoned, so the next domain is a sample.
        let t = prover.admit(WriteKind::Batch, "b", far).await;
        drop(t);
        let _held = match prover.admit(WriteKind::Batch, "b", far).await {
            Admission::Sample(t) => t,
            other => panic!("{other:?}"),
        };
        // Waiting past the limit: a sample itself.
        let soon = Instant::now() + Duration::from_secs(2);
        assert!(matches!(
            prover.admit(WriteKind::Batch, "b", soon).await,
            Admission::Sample(_)
        ));
    }
}
