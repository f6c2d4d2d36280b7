//! What the run learns of the batch call, which its reference leaves open: what it does to the
//! settings it cannot carry ([`Uncarried`]), and what the bulk read's `https_status` says of an
//! origin protocol.
//!
//! Probes are domains read in full before their batched write and again right after it. A
//! probe holding value X of a setting that reads X again shows that the batch call either keeps
//! X or resets to X: every domain holding X may be batched either way. A setting seen kept at
//! two different values (and never changed) is kept whatever its value. Nothing else is
//! assumed: a domain holding a value no probe has shown safe is written with its own call.
//!
//! [`judge`] and [`OriginEvidence`] are pure; [`Learner`] shares them among a run's domains and
//! lets domains wait for the probes.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::info;

use super::settings::{Origin, Uncarried, Values};

/// One probe's values before its batched write and right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub before: Values,
    pub after: Values,
}

/// What the probes showed of one setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// Kept at two or more different values and never changed: kept whatever the value.
    Kept,
    /// Only these values are known to read the same after a batch write.
    Safe(Vec<Value>),
}

/// What the probes showed of every setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Knowledge {
    known: Vec<(Uncarried, Known)>,
    /// Settings a probe saw changed.
    pub changed: Vec<Uncarried>,
    /// The values a probe held before the batch call changed them.
    lost: Vec<(Uncarried, Value)>,
}

/// Judges the observations so far.
pub fn judge(observations: &[Observation]) -> Knowledge {
    let mut known = Vec::new();
    let mut changed = Vec::new();
    let mut lost = Vec::new();
    for setting in Uncarried::ALL {
        let pairs: Vec<(&Value, Option<&Value>)> = observations
            .iter()
            .filter_map(|o| Some((o.before.get(setting)?, o.after.get(setting))))
            .collect();
        let mut safe: Vec<Value> = Vec::new();
        let mut held: Vec<&Value> = Vec::new();
        let mut any_changed = false;
        for (before, after) in &pairs {
            if !held.contains(before) {
                held.push(before);
            }
            if Some(*before) == *after {
                if !safe.contains(before) {
                    safe.push((*before).clone());
                }
            } else {
                any_changed = true;
                lost.push((setting, (*before).clone()));
            }
        }
        if any_changed {
            changed.push(setting);
        }
        let k = if !any_changed && held.len() >= 2 {
            Known::Kept
        } else {
            Known::Safe(safe)
        };
        known.push((setting, k));
    }
    Knowledge {
        known,
        changed,
        lost,
    }
}

impl Knowledge {
    fn of(&self, setting: Uncarried) -> Option<&Known> {
        self.known
            .iter()
            .find(|(s, _)| *s == setting)
            .map(|(_, k)| k)
    }

    /// Whether a batched write leaves every one of `values` as it is.
    pub fn safe(&self, values: &Values) -> bool {
        Uncarried::ALL.into_iter().all(|s| match values.get(s) {
            None => true,
            Some(v) => match self.of(s) {
                Some(Known::Kept) => true,
                Some(Known::Safe(safe)) => safe.contains(v),
                None => false,
            },
        })
    }

    /// Whether a probe holding one of `values` saw the batch call change it: probing another
    /// such domain would only change it again.
    pub fn seen_lost(&self, values: &Values) -> bool {
        self.lost.iter().any(|(s, v)| values.get(*s) == Some(v))
    }

    /// Whether `setting` is kept whatever its value.
    pub fn kept(&self, setting: Uncarried) -> bool {
        matches!(self.of(setting), Some(Known::Kept))
    }
}

/// What full reads in this run showed of the bulk read's `https_status`. It is documented as 1
/// (HTTPS, the origin follows the client) and 2 (HTTPS, HTTP origin), with no value for an HTTPS
/// origin: until a domain read in full shows `https` where the bulk read said 3 (and nothing
/// contradicts it), 2 may stand for an HTTPS origin and 3 for nothing known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginEvidence {
    seen: Vec<(i64, Origin)>,
}

impl OriginEvidence {
    /// Notes that a domain the bulk read gave `https_status` reads `origin` in full.
    pub fn note(&mut self, https_status: i64, origin: Origin) {
        if !self.seen.contains(&(https_status, origin)) {
            self.seen.push((https_status, origin));
        }
    }

    fn contradicted(&self) -> bool {
        self.seen.iter().any(|(status, origin)| {
            !matches!(
                (status, origin),
                (1, Origin::Follow) | (2, Origin::Http) | (3, Origin::Https)
            )
        })
    }

    /// The origin protocol a bulk-read `https_status` stands for, when the documentation and the
    /// evidence say it with certainty.
    pub fn origin(&self, https_status: i64) -> Option<Origin> {
        if self.contradicted() {
            return None;
        }
        let three_is_https = self.seen.contains(&(3, Origin::Https));
        match https_status {
            1 => Some(Origin::Follow),
            2 if three_is_https => Some(Origin::Http),
            3 if three_is_https => Some(Origin::Https),
            _ => None,
        }
    }
}

/// How a domain read in full goes on.
#[derive(Debug)]
pub enum Admission {
    /// Batch it: the probes showed its values safe.
    Batch,
    /// Batch it as a probe: read it again right after the write and report.
    Probe(Probe),
    /// Write it with its own call.
    Alone,
}

/// How a domain known only from the bulk snapshot goes on (no full read yet).
#[derive(Debug)]
pub enum SnapshotAdmission {
    /// Batch it from the snapshot: every setting the batch call cannot carry is kept whatever
    /// its value.
    Batch,
    /// Read it in full, then batch it as a probe.
    Probe(Probe),
    /// Read it in full first.
    Read,
}

#[derive(Debug, Default)]
struct State {
    observations: Vec<Observation>,
    /// Probe places left in this round.
    slots: usize,
    /// Probes admitted that have not reported.
    outstanding: usize,
    /// Rounds of probes left after this one (on the snapshot path, taken only while no probe saw
    /// a change and some setting is not yet shown kept at any value).
    rounds_left: usize,
    origins: OriginEvidence,
}

/// The run's learner, shared by its domains.
#[derive(Debug)]
pub struct Learner {
    state: Mutex<State>,
    /// Bumped on every report, so waiting domains look again.
    version: watch::Sender<u64>,
    probes: usize,
    /// Whether domains may be batched from the bulk snapshot without a read of their own.
    snapshot_path: bool,
}

/// Rounds of probes on the snapshot path while no probe saw a change and some setting is not
/// yet shown kept at any value (an account whose domains all hold the same values never can,
/// and is then read in full). Not in the default mode: probes that all held the values the call
/// resets to see no change, and a later probe holding another value would be changed.
const ROUNDS: usize = 3;

impl Learner {
    /// A learner with `probes` probe places; with `snapshot_path` (domains may be admitted from
    /// the snapshot), up to three rounds of them while they may still show every setting kept.
    pub fn new(probes: usize, snapshot_path: bool) -> Arc<Self> {
        let (version, _) = watch::channel(0);
        Arc::new(Self {
            state: Mutex::new(State {
                slots: probes,
                // Read in full, a domain with a value no probe has shown safe is written alone
                // at no risk; only the snapshot path needs every setting shown kept.
                rounds_left: if snapshot_path { ROUNDS - 1 } else { 0 },
                ..Default::default()
            }),
            version,
            probes,
            snapshot_path,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the probes have shown so far.
    pub fn knowledge(&self) -> Knowledge {
        judge(&self.lock().observations)
    }

    /// The origin protocol a bulk-read `https_status` stands for, as far as the run knows.
    pub fn origin(&self, https_status: i64) -> Option<Origin> {
        self.lock().origins.origin(https_status)
    }

    /// Notes what a full read showed of a domain the bulk read gave `https_status`.
    pub fn note_origin(&self, https_status: i64, origin: Origin) {
        self.lock().origins.note(https_status, origin);
    }

    fn take_slot(self: &Arc<Self>, st: &mut State) -> Option<Probe> {
        if st.slots == 0 {
            return None;
        }
        st.slots -= 1;
        st.outstanding += 1;
        Some(Probe {
            learner: self.clone(),
            reported: false,
        })
    }

    /// Admits a domain read in full whose values are `values`: batched once the probes show
    /// them safe, a probe while places are left, otherwise alone (at once when nothing more
    /// will be learned, else when the probes out have reported or at `limit`).
    pub async fn admit(self: &Arc<Self>, values: &Values, limit: Instant) -> Admission {
        let mut rx = self.version.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let mut st = self.lock();
                let k = judge(&st.observations);
                if k.safe(values) {
                    return Admission::Batch;
                }
                if k.seen_lost(values) {
                    return Admission::Alone;
                }
                if let Some(p) = self.take_slot(&mut st) {
                    return Admission::Probe(p);
                }
                if st.outstanding == 0 {
                    return Admission::Alone;
                }
            }
            if !news_by(&mut rx, limit).await {
                return Admission::Alone;
            }
        }
    }

    /// Admits a domain known only from the snapshot, whose forced redirect is on or not: batched
    /// as it is once every setting is shown kept (the redirect code only matters with the
    /// redirect on), a probe while places are left, else read in full once that cannot be shown.
    pub async fn admit_snapshot(
        self: &Arc<Self>,
        redirect_on: bool,
        limit: Instant,
    ) -> SnapshotAdmission {
        if !self.snapshot_path {
            return SnapshotAdmission::Read;
        }
        let mut rx = self.version.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let mut st = self.lock();
                let k = judge(&st.observations);
                let needed = |s: &Uncarried| redirect_on || *s != Uncarried::RedirectCode;
                if Uncarried::ALL
                    .iter()
                    .filter(|s| needed(s))
                    .all(|s| k.kept(*s))
                {
                    return SnapshotAdmission::Batch;
                }
                if !k.changed.is_empty() {
                    return SnapshotAdmission::Read;
                }
                if let Some(p) = self.take_slot(&mut st) {
                    return SnapshotAdmission::Probe(p);
                }
                if st.outstanding == 0 && st.rounds_left == 0 {
                    return SnapshotAdmission::Read;
                }
            }
            if !news_by(&mut rx, limit).await {
                return SnapshotAdmission::Read;
            }
        }
    }

    fn report(&self, observation: Option<Observation>) {
        {
            let mut st = self.lock();
            st.outstanding = st.outstanding.saturating_sub(1);
            st.observations.extend(observation);
            let k = judge(&st.observations);
            let all_kept = Uncarried::ALL.iter().all(|s| k.kept(*s));
            // A new round only while the call might still be shown to keep everything.
            if st.slots == 0
                && st.outstanding == 0
                && st.rounds_left > 0
                && k.changed.is_empty()
                && !all_kept
            {
                st.rounds_left -= 1;
                st.slots = self.probes;
                info!(
                    observed = st.observations.len(),
                    "probes could not show every setting kept yet; probing more domains"
                );
            }
            if st.outstanding == 0 {
                info!(observed = st.observations.len(), changed = ?k.changed.iter().map(|s| s.name()).collect::<Vec<_>>(),
                      kept = ?Uncarried::ALL.iter().filter(|s| k.kept(**s)).map(|s| s.name()).collect::<Vec<_>>(),
                      "what the probes show of the batch call");
            }
        }
        self.version.send_modify(|v| *v += 1);
    }
}

/// Waits for a report of a probe newer than the last one `rx` marked seen; false when none
/// came by `limit`. (The caller marks before it looks at the state, so that a report landing
/// between its look and this wait is not missed.)
async fn news_by(rx: &mut watch::Receiver<u64>, limit: Instant) -> bool {
    matches!(
        tokio::time::timeout_at(limit, rx.changed()).await,
        Ok(Ok(()))
    )
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
    use serde_json::json;
    use std::time::Duration;

    /// Values with TLS and OCSP as given and every other setting absent.
    fn vals(tls: &str, ocsp: &str) -> Values {
        let mut v: Vec<(Uncarried, Option<Value>)> = Uncarried::ALL
            .iter()
            .map(|s| (*s, Some(Value::Null)))
            .collect();
        v[0].1 = Some(json!(tls));
        v[1].1 = Some(json!(ocsp));
        v[2].1 = None;
        Values(v)
    }

    fn obs(before: (&str, &str), after: (&str, &str)) -> Observation {
        Observation {
            before: vals(before.0, before.1),
            after: vals(after.0, after.1),
        }
    }

    #[test]
    fn a_value_read_again_is_safe_whatever_the_call_does() {
        // The call resets TLS to 1.1-1.3: probes already there read it again.
        let k = judge(&[
            obs(
                ("TLSv1.1,TLSv1.2,TLSv1.3", "off"),
                ("TLSv1.1,TLSv1.2,TLSv1.3", "off"),
            ),
            obs(
                ("TLSv1.2,TLSv1.3", "off"),
                ("TLSv1.1,TLSv1.2,TLSv1.3", "off"),
            ),
        ]);
        assert_eq!(k.changed, vec![Uncarried::TlsVersion]);
        assert!(k.safe(&vals("TLSv1.1,TLSv1.2,TLSv1.3", "off")));
        assert!(!k.safe(&vals("TLSv1.2,TLSv1.3", "off")), "seen changed");
        assert!(k.seen_lost(&vals("TLSv1.2,TLSv1.3", "on")));
        assert!(!k.seen_lost(&vals("TLSv1.3", "off")));
        assert!(!k.safe(&vals("TLSv1.3", "off")), "never seen");
        assert!(
            !k.safe(&vals("TLSv1.1,TLSv1.2,TLSv1.3", "on")),
            "OCSP on never seen"
        );
        assert!(!k.kept(Uncarried::OcspStapling), "one value only");
    }

    #[test]
    fn kept_at_two_values_is_kept_at_any() {
        let k = judge(&[
            obs(("TLSv1.2", "on"), ("TLSv1.2", "on")),
            obs(("TLSv1.3", "off"), ("TLSv1.3", "off")),
        ]);
        assert!(k.changed.is_empty());
        assert!(k.kept(Uncarried::TlsVersion) && k.kept(Uncarried::OcspStapling));
        assert!(k.safe(&vals("TLSv1.0,TLSv1.1", "on")));
        // HSTS was absent on both: only absence is known safe.
        assert!(!k.kept(Uncarried::Hsts));
        let mut with_hsts = vals("TLSv1.2", "on");
        with_hsts.0[4].1 = Some(json!({"status": "on"}));
        assert!(!k.safe(&with_hsts));
        // The redirect code does not apply to these domains: no probe needed.
        assert!(k.safe(&vals("TLSv1.2", "off")));
        assert!(!judge(&[]).safe(&vals("a", "b")));
    }

    #[test]
    fn origin_evidence_needs_an_https_domain_read_as_3() {
        let mut e = OriginEvidence::default();
        assert_eq!(e.origin(1), Some(Origin::Follow));
        assert_eq!(e.origin(2), None, "2 may be an HTTPS origin");
        assert_eq!(e.origin(3), None, "3 is not documented");
        e.note(2, Origin::Http);
        assert_eq!(
            e.origin(2),
            None,
            "an HTTP domain read as 2 proves nothing of HTTPS ones"
        );
        e.note(3, Origin::Https);
        assert_eq!(e.origin(2), Some(Origin::Http));
        assert_eq!(e.origin(3), Some(Origin::Https));
        assert_eq!(e.origin(0), None);
        let mut two = OriginEvidence::default();
        two.note(3, Origin::Https);
        two.note(2, Origin::Https);
        assert_eq!(
            two.origin(2),
            None,
            "contradicted: an HTTPS origin read as 2"
        );
        assert_eq!(two.origin(3), None);
        assert_eq!(two.origin(1), None);
    }

    #[tokio::test(start_paused = true)]
    async fn domains_wait_for_the_probes_then_batch_what_is_safe() {
        let learner = Learner::new(2, false);
        let far = Instant::now() + Duration::from_secs(60);
        let default = vals("TLSv1.1,TLSv1.2,TLSv1.3", "off");
        let (Admission::Probe(a), Admission::Probe(b)) = (
            learner.admit(&default, far).await,
            learner.admit(&default, far).await,
        ) else {
            panic!("the first two domains are probes");
        };
        let waiters: Vec<_> = [default.clone(), vals("TLSv1.3", "on")]
            .into_iter()
            .map(|v| {
                let l = learner.clone();
                tokio::spawn(async move { l.admit(&v, far).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            waiters.iter().all(|w| !w.is_finished()),
            "wait for the probes"
        );
        let same = ("TLSv1.1,TLSv1.2,TLSv1.3", "off");
        a.report(Some(obs(same, same)));
        b.report(Some(obs(same, same)));
        let mut got = Vec::new();
        for w in waiters {
            got.push(w.await.unwrap());
        }
        assert!(matches!(got[0], Admission::Batch));
        assert!(matches!(got[1], Admission::Alone), "a value no probe held");
    }

    #[tokio::test(start_paused = true)]
    async fn the_snapshot_path_needs_every_setting_kept_and_gives_up_on_a_change() {
        let learner = Learner::new(1, true);
        let far = Instant::now() + Duration::from_secs(60);
        let SnapshotAdmission::Probe(p) = learner.admit_snapshot(false, far).await else {
            panic!("a probe");
        };
        p.report(Some(obs(("TLSv1.2", "on"), ("TLSv1.2", "on"))));
        // One value each: a second round.
        let SnapshotAdmission::Probe(p) = learner.admit_snapshot(false, far).await else {
            panic!("a second round");
        };
        p.report(Some(obs(("TLSv1.3", "off"), ("TLSv1.3", "off"))));
        // HSTS, QUIC, ... were absent on both: still not shown kept at any value.
        let SnapshotAdmission::Probe(p) = learner.admit_snapshot(false, far).await else {
            panic!("a third round");
        };
        drop(p);
        assert!(matches!(
            learner.admit_snapshot(false, far).await,
            SnapshotAdmission::Read
        ));

        let resets = Learner::new(1, true);
        let SnapshotAdmission::Probe(p) = resets.admit_snapshot(true, far).await else {
            panic!("a probe");
        };
        p.report(Some(obs(
            ("TLSv1.2", "on"),
            ("TLSv1.1,TLSv1.2,TLSv1.3", "on"),
        )));
        assert!(matches!(
            resets.admit_snapshot(true, far).await,
            SnapshotAdmission::Read
        ));
        assert!(matches!(
            Learner::new(3, false).admit_snapshot(false, far).await,
            SnapshotAdmission::Read
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_go_alone_at_the_limit_and_once_nothing_more_can_be_learned() {
        let learner = Learner::new(1, false);
        let soon = Instant::now() + Duration::from_secs(5);
        let probe = learner.admit(&vals("a", "b"), soon).await;
        assert!(matches!(probe, Admission::Probe(_)));
        assert!(
            matches!(learner.admit(&vals("a", "b"), soon).await, Admission::Alone),
            "the limit passed"
        );
        drop(probe);
        assert!(
            matches!(learner.admit(&vals("a", "b"), soon).await, Admission::Alone),
            "one round only when each domain is read in full"
        );
    }
}
