//! Wall-clock time behind a trait, so signing and certificate checks can be tested at a fixed
//! moment. (Durations and deadlines use `tokio::time::Instant`, which tests can pause.)

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Seconds since the Unix epoch.
    fn unix_now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default()
    }
}

/// A clock stopped at one moment (tests, known-answer checks).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn unix_now(&self) -> i64 {
        self.0
    }
}

/// The shared clock handle passed around the crate.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock as a shared handle.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}
/// An RFC 1123 date in GMT (`Sat, 28 Nov 2026 14:03:20 GMT`), as a `Date` header carries it
/// (a time before 1970 is written as 1970's first second).
pub fn http_date(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    httpdate::fmt_http_date(t)
}
