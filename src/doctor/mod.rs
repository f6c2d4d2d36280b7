//! `doctor`: a read-only preflight of an account, a certificate and every domain (SPEC
//! section 12): its pure part and the DNS it asks. The handler makes the reads (no write call of
//! any kind; CNAMEs over [`dns`]), [`judge`] decides what they say (pure), [`forecast`] replays
//! the deployment's schedule over them (pure), [`text`] renders the report for a person and
//! [`tell`] decides when and what a scheduled doctor tells through the notification channels.

pub mod dns;
pub mod forecast;
pub mod judge;
pub mod tell;
pub mod text;

use serde::{Deserialize, Serialize};

use forecast::Forecast;
use judge::{Check, DomainEntry, Level};

/// What a doctor run answers: `ok` when no check is `fail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
    pub domains: Vec<DomainEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// What each notification channel did with the report's digest; empty when none was due.
    #[serde(default, skip_serializing_if = "Vec::is_empty", skip_deserializing)]
    pub notifications: Vec<crate::result::NotificationOutcome>,
}

impl Report {
    pub fn of(checks: Vec<Check>, domains: Vec<DomainEntry>, forecast: Option<Forecast>) -> Self {
        Report {
            ok: checks.iter().all(|c| c.status != Level::Fail),
            checks,
            domains,
            forecast,
            notifications: Vec::new(),
        }
    }

    /// The exit code of `doctor`: 0 when no check is `fail`, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.ok {
            crate::result::EXIT_OK
        } else {
            crate::result::EXIT_NOT_OK
        }
    }
}
