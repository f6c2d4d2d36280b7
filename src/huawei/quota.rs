//! Client-side pacing under the documented per-tenant API quotas, so that a 429 stays a rare
//! event instead of being the pacing mechanism.
//!
//! Each API has a generic cell rate limiter (GCRA): a request may start at its "theoretical
//! arrival time" minus a burst tolerance. The decision ([`Gcra::reserve`]) is pure; the client
//! sleeps until the instant it returns.

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

    /// The documented per-tenant quota, in calls per minute (SPEC section 7).
    pub fn quota_per_minute(self) -> u32 {
        match self {
            Api::ShowDomainDetail | Api::ShowFullConfig | Api::ListDomains => 300,
            Api::UpdateFullConfig => 200,
            Api::ShowHttpsInfo => 15 * 60,
            Api::UpdateMultiCertificates => 20,
        }
    }

    /// Index into [`Api::ALL`].
    pub fn index(self) -> usize {
        Api::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }
}

/// A GCRA limiter: `interval` between calls on average, up to `burst` calls at once.
#[derive(Debug)]
pub struct Gcra {
    interval: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next call.
    tat: Option<Instant>,
}

impl Gcra {
    /// A limiter for `per_minute` calls a minute with bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        Self {
            interval,
            tolerance: interval * burst.saturating_sub(1),
            tat: None,
        }
    }

    /// Books the next slot and returns when the call may start (`now` or later).
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let start = tat.checked_sub(self.tolerance).map_or(now, |s| s.max(now));
        self.tat = Some(tat + self.interval);
        start
    }
}

/// One limiter per API, shared by every domain of a run.
#[derive(Debug)]
pub struct Pacer {
    limiters: Vec<Mutex<Gcra>>,
}

impl Pacer {
    /// Limiters at a fraction (`headroom`, e.g. 0.9) of each API's documented quota, with a burst
    /// of a few seconds' worth, so a short run is not slowed at all.
    pub fn new(quota: impl Fn(Api) -> u32, headroom: f64) -> Self {
        let limiters = Api::ALL
            .iter()
            .map(|api| {
                let per_min = ((quota(*api) as f64) * headroom).floor().max(1.0) as u32;
                let burst = (per_min / 30).clamp(1, 10);
                Mutex::new(Gcra::new(per_min, burst))
            })
            .collect();
        Self { limiters }
    }

    /// Pacing at 90 % of the documented quotas.
    pub fn documented() -> Self {
        Self::new(Api::quota_per_minute, 0.9)
    }

    /// Books a slot for `api` and returns the instant the call may start.
    pub fn reserve(&self, api: Api) -> Instant {
        let mut gcra = self.limiters[api.index()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        gcra.reserve(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces() {
        let mut g = Gcra::new(60, 3);
        let now = Instant::now();
        let starts: Vec<Duration> = (0..6).map(|_| g.reserve(now) - now).collect();
        assert_eq!(
            starts,
            vec![0, 0, 0, 1, 2, 3]
                .into_iter()
                .map(Duration::from_secs)
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_restores_the_burst() {
        let mut g = Gcra::new(60, 2);
        let t0 = Instant::now();
        g.reserve(t0);
        g.reserve(t0);
        assert_eq!(g.reserve(t0) - t0, Duration::from_secs(1));
        let later = t0 + Duration::from_secs(30);
        assert_eq!(g.reserve(later), later);
        assert_eq!(g.reserve(later), later);
    }

    #[test]
    fn documented_quotas() {
        assert_eq!(Api::UpdateFullConfig.quota_per_minute(), 200);
        assert_eq!(Api::UpdateMultiCertificates.quota_per_minute(), 20);
        assert_eq!(Api::ALL[Api::ShowHttpsInfo.index()], Api::ShowHttpsInfo);
    }
}
