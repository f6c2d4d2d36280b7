//! The forecast of a deployment (pure): the calls it would make and how long it would take, by
//! replaying the engine's schedule over what the doctor read. Every call is booked on the
//! engine's own limiter ([`Window`]) in the order the engine would book it: the first reads at
//! the share of the read quota they may use, each class's sample written and read back before
//! the rest of its class is written (in a run of many domains), batch groups formed as the
//! batcher forms them, and each write live once the CDN has settled it and a sweep (or a poll)
//! has seen it. How long the CDN takes to settle a write is not documented: it is the one
//! assumption ([`Pace::settle`]), stated in the answer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::deploy::batch::{GroupState, MAX_BATCH};
use crate::deploy::decide::poll_delay;
use crate::deploy::engine::first_read_quota;
use crate::deploy::settings::BatchKey;
use crate::deploy::EngineConfig;
use crate::huawei::quota::{Api, Quota, Window};

/// What a deployment of the domains judged would call, and how long it would take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forecast {
    pub calls: Calls,
    pub seconds: u64,
    pub budget_seconds: u64,
    pub fits_budget: bool,
    /// The seconds assumed for the CDN to bring a written domain live.
    pub settle_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// Calls by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    pub list: u64,
    pub https_info: u64,
    pub configs_read: u64,
    pub write: u64,
    pub batch: u64,
}

/// The quotas a forecast paces calls by.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub list: Quota,
    pub https_info: Quota,
    pub configs_read: Quota,
    pub write: Quota,
    pub batch: Quota,
}

impl Quotas {
    /// Each kind of call's quota, as `quota` gives the API's.
    pub fn from_fn(quota: impl Fn(Api) -> Quota) -> Self {
        Self {
            list: quota(Api::ListDomains),
            https_info: quota(Api::ShowHttpsInfo),
            configs_read: quota(Api::ShowFullConfig),
            write: quota(Api::UpdateFullConfig),
            batch: quota(Api::UpdateMultiCertificates),
        }
    }
}

/// How long the CDN takes to bring a written domain live, when nobody said: not documented; the
/// console's "configuring" usually lasts about a minute.
pub const SETTLE_SECONDS: u64 = 60;
/// A call's round trip to the CDN, assumed (the gateway answers reads in tens of milliseconds,
/// writes in a few hundred).
const LATENCY: Duration = Duration::from_millis(150);

/// What the replay paces by: the quotas, the engine's tuning and the settle time.
#[derive(Debug, Clone)]
pub struct Pace {
    pub quotas: Quotas,
    pub engine: EngineConfig,
    pub settle: Duration,
}

/// A domain the deployment would write: its class for the proof of a per-domain write
/// ([`crate::deploy::settings::alone_class_of`]) and, when it may be batched, its batch group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToWrite {
    pub alone_class: String,
    pub batch: Option<Batched>,
}

/// A batched write's group and its class for the proof of the batch call
/// ([`crate::deploy::settings::class_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batched {
    pub group: BatchKey,
    pub class: String,
}

/// The forecast of writing `writes` in a run of `requested` domains on an account of `listed`.
pub fn forecast(
    writes: &[ToWrite],
    requested: usize,
    listed: u64,
    pace: &Pace,
    budget: Duration,
) -> Forecast {
    let many = requested.min(pace.engine.concurrency) >= pace.engine.bulk_threshold;
    let mut replay = Replay::new(writes, many, listed, pace);
    replay.run();
    replay.count_sweeps();
    let seconds = replay.finished.as_secs_f64().ceil() as u64;
    let budget_seconds = budget.as_secs();
    let fits_budget = seconds <= budget_seconds;
    let advice = (!fits_budget).then(|| {
        format!(
            "about {seconds} s is more than the {budget_seconds} s budget: domains not live by then are pending and \
             a follow-up run takes them (pending_domains); use the Step Functions workflow, or fewer domains a run"
        )
    });
    Forecast {
        calls: replay.calls,
        seconds,
        budget_seconds,
        fits_budget,
        settle_seconds: pace.settle.as_secs_f64().ceil() as u64,
        advice,
    }
}

/// Which call a write uses, for the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Call {
    Batch,
    Alone,
}

#[derive(Debug)]
enum Event {
    /// The domain's first read may start.
    Start(usize),
    /// The domain's first read answered: it is admitted to its write.
    Read(usize),
    /// The domain may be written with `call` (`sample`: its write proves its class).
    Ready {
        domain: usize,
        call: Call,
        sample: bool,
    },
    /// A batch group's time came (if it is still this version of the group).
    GroupDue { group: BatchKey, version: u64 },
    /// A class's sample was read back: the class is proven.
    Proven { call: Call, class: String },
}

#[derive(Debug)]
enum Proof {
    Proving(Vec<usize>),
    Proven,
}

#[derive(Debug)]
struct Group {
    first: Duration,
    last: Duration,
    members: Vec<(usize, bool)>,
    version: u64,
}

/// One replay of the engine's schedule, in time from the run's start.
struct Replay<'a> {
    writes: &'a [ToWrite],
    pace: &'a Pace,
    many: bool,
    base: Instant,
    first_reads: Window,
    reads: Window,
    alone: Window,
    batch: Window,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    events: HashMap<u64, Event>,
    seq: u64,
    proofs: HashMap<(Call, String), Proof>,
    groups: HashMap<BatchKey, Group>,
    /// When the run's sweeps take: its listing and bulk HTTPS pages, one after another.
    sweep: Duration,
    /// Pages of one sweep: ListDomains, ShowCertificatesHttpsInfo.
    pages: (u64, u64),
    /// From each write's answer until a sweep saw it: while any domain waits, the board sweeps.
    waiting: Vec<(Duration, Duration)>,
    calls: Calls,
    finished: Duration,
}

impl<'a> Replay<'a> {
    fn new(writes: &'a [ToWrite], many: bool, listed: u64, pace: &'a Pace) -> Self {
        let q = &pace.quotas;
        let window = |quota: Quota| {
            let mut w = Window::new(quota);
            w.took(LATENCY);
            w
        };
        let list = listed
            .div_ceil(u64::from(crate::deploy::calls::LIST_PAGE))
            .max(1);
        let https_info = listed
            .div_ceil(u64::from(crate::deploy::calls::HTTPS_INFO_PAGE))
            .max(1);
        let sweep = LATENCY * (list + https_info) as u32;
        Self {
            writes,
            pace,
            many,
            base: Instant::now(),
            first_reads: window(first_read_quota(q.configs_read)),
            reads: window(q.configs_read),
            alone: window(q.write),
            batch: window(q.batch),
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            seq: 0,
            proofs: HashMap::new(),
            groups: HashMap::new(),
            sweep,
            pages: (list, https_info),
            waiting: Vec::new(),
            calls: Calls::default(),
            finished: if many { sweep } else { Duration::ZERO },
        }
    }

    fn at(&mut self, when: Duration, event: Event) {
        self.seq += 1;
        self.events.insert(self.seq, event);
        self.queue.push(Reverse((when, self.seq)));
    }

    /// Books a call on `window` at `now` or later; when it answers.
    fn book(window: &mut Window, base: Instant, now: Duration) -> Duration {
        let far = base + now + Duration::from_secs(365 * 86_400);
        let start = window.reserve(base + now, far).unwrap_or(base + now);
        start.duration_since(base) + LATENCY
    }

    fn run(&mut self) {
        // Every domain starts at once; its first read waits for its share of the read quota.
        let start = self.finished;
        for i in 0..self.writes.len() {
            let first = Self::book(&mut self.first_reads, self.base, start) - LATENCY;
            self.at(first, Event::Start(i));
        }
        while let Some(Reverse((now, seq))) = self.queue.pop() {
            let Some(event) = self.events.remove(&seq) else {
                continue;
            };
            match event {
                Event::Start(i) => {
                    let answered = Self::book(&mut self.reads, self.base, now);
                    self.calls.configs_read += 1;
                    self.at(answered, Event::Read(i));
                }
                Event::Read(i) => self.admit(i, now),
                Event::Ready {
                    domain,
                    call,
                    sample,
                } => self.ready(domain, call, sample, now),
                Event::GroupDue { group, version } => self.due(group, version, now),
                Event::Proven { call, class } => self.proven(call, class, now),
            }
        }
    }

    /// The sweeps' calls: the first sweep, then one sweep an interval while domains wait
    /// (with few domains, each polls its own status instead: one read a poll, counted as none
    /// of these kinds).
    fn count_sweeps(&mut self) {
        if !self.many {
            return;
        }
        self.waiting.sort();
        let mut waited = Duration::ZERO;
        let mut open: Option<(Duration, Duration)> = None;
        for &(from, to) in &self.waiting {
            open = match open {
                Some((a, b)) if from <= b => Some((a, b.max(to))),
                Some((a, b)) => {
                    waited += b - a;
                    Some((from, to))
                }
                None => Some((from, to)),
            };
        }
        if let Some((a, b)) = open {
            waited += b - a;
        }
        let interval = self.pace.engine.bulk_interval.max(self.sweep);
        let sweeps = 1 + (waited.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
        self.calls.list = self.pages.0 * sweeps;
        self.calls.https_info = self.pages.1 * sweeps;
    }

    fn call_of(&self, i: usize) -> Call {
        match (&self.writes[i].batch, self.many) {
            (Some(_), true) => Call::Batch,
            _ => Call::Alone,
        }
    }

    fn class_of(&self, i: usize, call: Call) -> String {
        let w = &self.writes[i];
        match (call, &w.batch) {
            (Call::Batch, Some(b)) => b.class.clone(),
            _ => w.alone_class.clone(),
        }
    }

    /// As the prover admits a domain: proven, wait for the class's sample, or be the sample.
    fn admit(&mut self, i: usize, now: Duration) {
        self.admit_to(i, self.call_of(i), now);
    }

    fn admit_to(&mut self, i: usize, call: Call, now: Duration) {
        let waits = call == Call::Batch || self.many;
        let key = (call, self.class_of(i, call));
        match self.proofs.get_mut(&key) {
            Some(Proof::Proven) => self.at(
                now,
                Event::Ready {
                    domain: i,
                    call,
                    sample: false,
                },
            ),
            Some(Proof::Proving(waiting)) if waits => waiting.push(i),
            _ => {
                self.proofs.entry(key).or_insert(Proof::Proving(Vec::new()));
                self.at(
                    now,
                    Event::Ready {
                        domain: i,
                        call,
                        sample: true,
                    },
                );
            }
        }
    }

    fn ready(&mut self, i: usize, call: Call, sample: bool, now: Duration) {
        match (call, &self.writes[i].batch) {
            (Call::Batch, Some(b)) => self.join(b.group.clone(), i, sample, now),
            _ => {
                let answered = Self::book(&mut self.alone, self.base, now);
                self.calls.write += 1;
                self.written(Call::Alone, &[(i, sample)], answered);
            }
        }
    }

    /// The batcher's view of a group (its own rules decide when it goes and whether it is big
    /// enough to batch).
    fn state(&self, group: &Group) -> GroupState {
        GroupState {
            first: self.base + group.first,
            last: self.base + group.last,
            len: group.members.len(),
            sample: group.members.iter().any(|m| m.1),
        }
    }

    /// The domain joins its batch group, which is sent when full, idle or lingered long enough.
    fn join(&mut self, key: BatchKey, i: usize, sample: bool, now: Duration) {
        let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
            first: now,
            last: now,
            members: Vec::new(),
            version: 0,
        });
        group.last = now;
        group.members.push((i, sample));
        group.version += 1;
        let (len, version) = (group.members.len(), group.version);
        if len >= MAX_BATCH {
            self.due(key, version, now);
            return;
        }
        let due = self.state(&self.groups[&key]).due_at(&self.pace.engine);
        let due = due.duration_since(self.base);
        self.at(
            due,
            Event::GroupDue {
                group: key,
                version,
            },
        );
    }

    fn due(&mut self, key: BatchKey, version: u64, now: Duration) {
        if self.groups.get(&key).map(|g| g.version) != Some(version) {
            return;
        }
        let group = self.groups.remove(&key).expect("the group was just found");
        if !self.state(&group).big_enough(&self.pace.engine) {
            // Too few to batch: handed back, each written with its own call.
            for (i, _) in group.members {
                self.admit_to(i, Call::Alone, now);
            }
            return;
        }
        let answered = Self::book(&mut self.batch, self.base, now);
        self.calls.batch += 1;
        self.written(Call::Batch, &group.members, answered);
    }

    /// Written domains go live after the settle time; a sweep (or the domain's own poll) sees it,
    /// and a sample is read back in full, which proves its class.
    fn written(&mut self, call: Call, domains: &[(usize, bool)], answered: Duration) {
        let seen = answered + self.seen_after();
        self.waiting.push((answered, seen));
        for &(i, sample) in domains {
            if !sample {
                self.finished = self.finished.max(seen);
                continue;
            }
            let read_back = Self::book(&mut self.reads, self.base, seen);
            self.calls.configs_read += 1;
            self.finished = self.finished.max(read_back);
            let class = self.class_of(i, call);
            self.at(read_back, Event::Proven { call, class });
        }
    }

    /// From a write's answer to the first look that sees it live: the next sweep after the
    /// settle time (sweeps run back to back while domains wait), or the domain's own poll.
    fn seen_after(&self) -> Duration {
        let settle = self.pace.settle;
        if self.many {
            let interval = self.pace.engine.bulk_interval.max(self.sweep);
            return settle + interval / 2 + self.sweep;
        }
        let mut waited = Duration::ZERO;
        for n in 0.. {
            waited += poll_delay(n);
            if waited >= settle {
                break;
            }
        }
        waited + LATENCY
    }

    fn proven(&mut self, call: Call, class: String, now: Duration) {
        let key = (call, class);
        if let Some(Proof::Proving(waiting)) = self.proofs.insert(key, Proof::Proven) {
            for i in waiting {
                self.at(
                    now,
                    Event::Ready {
                        domain: i,
                        call,
                        sample: false,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::Origin;

    fn pace(settle: u64) -> Pace {
        Pace {
            quotas: Quotas::from_fn(Api::documented_quota),
            engine: EngineConfig::default(),
            settle: Duration::from_secs(settle),
        }
    }

    /// Documented defaults everywhere: one batch group, one class.
    fn uniform(n: usize) -> Vec<ToWrite> {
        let group = BatchKey {
            origin: Origin::Http,
            http2: true,
            redirect_to_https: false,
        };
        vec![
            ToWrite {
                alone_class: "u".into(),
                batch: Some(Batched {
                    group,
                    class: "u".into()
                }),
            };
            n
        ]
    }

    /// Every domain holds something the batch call cannot carry.
    fn diverse(n: usize) -> Vec<ToWrite> {
        vec![
            ToWrite {
                alone_class: "d".into(),
                batch: None,
            };
            n
        ]
    }

    fn seconds(writes: &[ToWrite], settle: u64) -> Forecast {
        forecast(
            writes,
            writes.len(),
            writes.len() as u64,
            &pace(settle),
            Duration::from_secs(900),
        )
    }

    #[test]
    fn the_replay_matches_the_benchmarks_walls() {
        // `make bench` walls (propagation 10 s, documented quotas, 2026-12-08).
        for (label, writes, wall) in [
            ("50 uniform", uniform(50), 22.0),
            ("200 uniform", uniform(200), 22.1),
            ("300 uniform", uniform(300), 71.7),
            ("300 diverse", diverse(300), 82.4),
            ("500 uniform", uniform(500), 72.5),
            ("500 diverse", diverse(500), 143.7),
        ] {
            let f = seconds(&writes, 10);
            let off = (f.seconds as f64 - wall) / wall;
            eprintln!(
                "{label}: forecast {} s, measured {wall} s, calls {:?}",
                f.seconds, f.calls
            );
            assert!(
                off.abs() < 0.10,
                "{label}: forecast {} s, measured {wall} s",
                f.seconds
            );
        }
    }

    #[test]
    fn a_small_run_polls_each_domain_and_writes_each_alone() {
        // Under 20 domains: no sweeps, no batch; each write polled until the settle is over.
        let f = seconds(&diverse(5), 10);
        assert_eq!(
            f.calls,
            Calls {
                configs_read: 10,
                write: 5,
                ..Calls::default()
            },
            "each write proves itself: five read backs"
        );
        // Polls after 1, 2.5, 4.75, 8.1, 13.2 s: the fifth sees it live.
        assert!((13..=15).contains(&f.seconds), "{f:?}");
    }

    #[test]
    fn a_group_too_small_to_batch_is_written_alone() {
        let mut writes = uniform(40);
        let odd = BatchKey {
            origin: Origin::Follow,
            http2: false,
            redirect_to_https: false,
        };
        for w in writes.iter_mut().take(3) {
            w.batch = Some(Batched {
                group: odd.clone(),
                class: "odd".into(),
            });
        }
        let f = seconds(&writes, 10);
        // The odd group's sample goes in a batch of its own; its two others, too few to batch
        // when they are let go, are handed back and written alone.
        assert_eq!(f.calls.write, 2, "{f:?}");
        assert_eq!(f.calls.batch, 1 + 1 + 1, "{f:?}");
    }

    #[test]
    fn the_settle_time_and_the_budget_decide_whether_it_fits() {
        let f = forecast(&uniform(300), 300, 300, &pace(60), Duration::from_secs(25));
        assert_eq!(f.settle_seconds, 60);
        // Two rounds of settling (the sample, then the rest) after the second read window.
        assert!(f.seconds > 120, "{f:?}");
        assert!(!f.fits_budget);
        assert!(f.advice.unwrap().contains("pending_domains"));
        let none = seconds(&[], 60);
        assert_eq!(
            none.calls.configs_read + none.calls.write + none.calls.batch,
            0
        );
        assert!(none.seconds <= 1 && none.fits_budget, "{none:?}");
    }
}
