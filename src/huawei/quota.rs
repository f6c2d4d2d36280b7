//! Client-side pacing under the documented per-tenant API quotas. A quota is documented as a
//! count per window (300 a minute, 15 a second): up to that count may go at once, and the next
//! call waits until the oldest of the last `count` calls has left the window. A 429 is the
//! safety net (a quota shared with other clients), not the pacing mechanism.
//!
//! The decision ([`Window::reserve`]) is pure; the client sleeps until the instant it returns.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The CDN calls the function makes, each with its own quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ShowDomainDetail,
    ShowFullConfig,
    UpdateFullConfig,
    ListDomains,
    ShowHttpsInfo,
    UpdateMultiCertificates,
}

impl Api {
    /// Every API, in a fixed order (for counters and tables).
    pub const ALL: [Api; 6] = [
        Api::ShowDomainDetail,
        Api::ShowFullConfig,
        Api::UpdateFullConfig,
        Api::ListDomains,
        Api::ShowHttpsInfo,
        Api::UpdateMultiCertificates,
    ];

    /// The operation name the official SDKs use.
    pub fn name(self) -> &'static str {
        match self {
            Api::ShowDomainDetail => "ShowDomainDetailByName",
            Api::ShowFullConfig => "ShowDomainFullConfig",
            Api::UpdateFullConfig => "UpdateDomainFullConfig",
            Api::ListDomains => "ListDomains",
            Api::ShowHttpsInfo => "ShowCertificatesHttpsInfo",
            Api::UpdateMultiCertificates => "UpdateDomainMultiCertificates",
        }
    }

    /// The API of an SDK operation name.
    pub fn by_name(name: &str) -> Option<Api> {
        Api::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The documented per-tenant quota (SPEC section 7).
    pub fn documented_quota(self) -> Quota {
        match self {
            Api::ShowDomainDetail | Api::ShowFullConfig | Api::ListDomains => {
                Quota::per_minute(300)
            }
            Api::UpdateFullConfig => Quota::per_minute(200),
            Api::ShowHttpsInfo => Quota::new(15, Duration::from_secs(1)),
            Api::UpdateMultiCertificates => Quota::per_minute(20),
        }
    }

    /// Index into [`Api::ALL`].
    pub fn index(self) -> usize {
        Api::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }
}

/// Up to `count` calls in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub window: Duration,
}

impl Quota {
    /// `count` calls in any `window` (at least one call, and a window of at least a millisecond).
    pub fn new(count: u32, window: Duration) -> Self {
        Self {
            count: count.max(1),
            window: window.max(Duration::from_millis(1)),
        }
    }

    /// `count` calls a minute.
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// The same count in a window `scale` times shorter (simulators and benchmarks run the
    /// documented quotas faster in time, never with bigger bursts).
    pub fn scaled(self, scale: f64) -> Self {
        if scale > 0.0 && scale.is_finite() {
            Self::new(self.count, self.window.div_f64(scale))
        } else {
            self
        }
    }

    /// Reads `300` (a count in the documented window of `api`) or `300/60s`, `15/1s`,
    /// `300/0.5s` (a count per window in seconds).
    pub fn parse(text: &str, api: Api) -> Result<Self, String> {
        let text = text.trim();
        let (count, window) = match text.split_once('/') {
            None => (text, None),
            Some((c, w)) => (c.trim(), Some(w.trim())),
        };
        let count: u32 =
            count.parse().ok().filter(|c| *c > 0).ok_or_else(|| {
                format!("`{text}`: the count must be a whole number of at least 1")
            })?;
        let window = match window {
            None => api.documented_quota().window,
            Some(w) => {
                let secs: f64 = w
                    .strip_suffix('s')
                    .and_then(|s| s.trim().parse().ok())
                    .filter(|s: &f64| *s >= 0.001 && s.is_finite() && *s <= 86_400.0)
                    .ok_or_else(|| {
                        format!("`{text}`: the window is seconds, like `60s` or `0.5s`")
                    })?;
                Duration::from_secs_f64(secs)
            }
        };
        Ok(Self::new(count, window))
    }
}

/// A count-per-window limiter: the start instants of the last `count` calls booked.
#[derive(Debug)]
pub struct Window {
    quota: Quota,
    starts: VecDeque<Instant>,
    /// The longest a call took lately (decaying) from its booked start to its answer, waits for
    /// a connection included: the gateway counts a call when it arrives, up to that long after
    /// its booked start, so a call booked at the edge of the window waits that much more.
    slowest: Duration,
}

impl Window {
    /// A limiter for `quota`.
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            starts: VecDeque::with_capacity(quota.count.min(1024) as usize),
            slowest: Duration::ZERO,
        }
    }

    /// What a call booked at the edge of the window waits beyond it (a call that timed out
    /// widens it by half a window at most).
    fn margin(&self) -> Duration {
        self.quota.window / 50 + Duration::from_millis(20) + self.slowest.min(self.quota.window / 2)
    }

    /// Books the next call and returns when it may start (`now` or later): at once while fewer
    /// than `count` calls were booked in the window, else once the oldest of them has left it.
    /// A call that could not start before `latest` is not booked (`None`): its slot stays free.
    pub fn reserve(&mut self, now: Instant, latest: Instant) -> Option<Instant> {
        let start = if self.starts.len() < self.quota.count as usize {
            now
        } else {
            let oldest = self.starts[0];
            now.max(oldest + self.quota.window + self.margin())
        };
        if start >= latest {
            return None;
        }
        if self.starts.len() >= self.quota.count as usize {
            self.starts.pop_front();
        }
        self.starts.push_back(start);
        Some(start)
    }

    /// Notes that a call took `d` from its booked start to its answer.
    pub fn took(&mut self, d: Duration) {
        self.slowest = d.max(self.slowest.mul_f64(0.95));
    }
}

/// One limiter per API, shared by every domain of a run.
#[derive(Debug)]
pub struct Pacer {
    limiters: Vec<Mutex<Window>>,
}

impl Pacer {
    /// Limiters at each API's quota as `quota` gives it.
    pub fn new(quota: impl Fn(Api) -> Quota) -> Self {
        let limiters = Api::ALL
            .iter()
            .map(|api| Mutex::new(Window::new(quota(*api))))
            .collect();
        Self { limiters }
    }

    /// Pacing at the documented quotas.
    pub fn documented() -> Self {
        Self::new(Api::documented_quota)
    }

    fn window(&self, api: Api) -> std::sync::MutexGuard<'_, Window> {
        self.limiters[api.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Books a slot for `api` and returns the instant the call may start; `None` (nothing
    /// booked) when that would be at `latest` or later.
    pub fn reserve(&self, api: Api, latest: Instant) -> Option<Instant> {
        self.window(api).reserve(Instant::now(), latest)
    }

    /// Notes that a call of `api` took `d` from its booked start to its answer.
    pub fn took(&self, api: Api, d: Duration) {
        self.window(api).took(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[f64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_count_at_once_then_as_the_window_allows() {
        let mut w = Window::new(Quota::new(3, Duration::from_secs(10)));
        let margin = 10.0 / 50.0 + 0.02;
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        let starts: Vec<Duration> = (0..7).map(|_| w.reserve(now, far).unwrap() - now).collect();
        let next = 10.0 + margin;
        assert_eq!(starts, secs(&[0.0, 0.0, 0.0, next, next, next, 2.0 * next]));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_spread_out_leave_the_window_free() {
        let mut w = Window::new(Quota::new(2, Duration::from_secs(1)));
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(3600);
        assert_eq!(w.reserve(t0, far), Some(t0));
        let t1 = t0 + Duration::from_millis(600);
        assert_eq!(w.reserve(t1, far), Some(t1));
        // The third waits for the first to leave the window (plus the margin)...
        let t2 = t0 + Duration::from_millis(700);
        let third = t0 + Duration::from_millis(1000 + 20 + 20);
        // ...and is not booked at all when it could not start in time.
        assert_eq!(w.reserve(t2, third), None);
        assert_eq!(w.reserve(t2, far), Some(third));
        let later = t0 + Duration::from_secs(30);
        assert_eq!(w.reserve(later, far), Some(later));
        assert_eq!(w.reserve(later, far), Some(later));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_answers_widen_the_margin() {
        let mut w = Window::new(Quota::new(1, Duration::from_secs(1)));
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(3600);
        assert_eq!(w.reserve(t0, far), Some(t0));
        // The first call took 300 ms: it may have arrived that late, so the next waits as long.
        w.took(Duration::from_millis(300));
        assert_eq!(
            w.reserve(t0, far),
            Some(t0 + Duration::from_millis(1000 + 20 + 20 + 300))
        );
        w.took(Duration::from_millis(10));
        assert_eq!(w.slowest, Duration::from_millis(285), "it decays");
    }

    #[test]
    fn documented_quotas_and_overrides() {
        assert_eq!(
            Api::UpdateFullConfig.documented_quota(),
            Quota::per_minute(200)
        );
        assert_eq!(Api::UpdateMultiCertificates.documented_quota().count, 20);
        assert_eq!(
            Api::ShowHttpsInfo.documented_quota(),
            Quota::new(15, Duration::from_secs(1))
        );
        assert_eq!(Api::ALL[Api::ShowHttpsInfo.index()], Api::ShowHttpsInfo);
        assert_eq!(Api::by_name("ListDomains"), Some(Api::ListDomains));
        let api = Api::ShowFullConfig;
        assert_eq!(Quota::parse("50", api), Ok(Quota::per_minute(50)));
        assert_eq!(
            Quota::parse(" 300 / 2s ", api),
            Ok(Quota::new(300, Duration::from_secs(2)))
        );
        assert_eq!(
            Quota::parse("15/0.5s", Api::ShowHttpsInfo),
            Ok(Quota::new(15, Duration::from_millis(500)))
        );
        for bad in ["0", "-1", "x", "3/", "3/2m", "3/0s", "3/-1s"] {
            assert!(Quota::parse(bad, api).is_err(), "{bad}");
        }
        assert_eq!(
            Quota::per_minute(300).scaled(60.0),
            Quota::new(300, Duration::from_secs(1))
        );
    }
}
