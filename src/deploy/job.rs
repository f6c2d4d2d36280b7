//! What a run deploys and how: the job every domain shares and the engine's tuning (pure data,
//! below every other part of the deployment).

use std::time::Duration;

use super::settings::Overrides;
use super::target::Target;
use crate::huawei::quota::{Api, Quota};

/// Tuning of a run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Domains in flight at once.
    pub concurrency: usize,
    /// Read timeout of one call (capped by what is left of the budget).
    pub request_timeout: Duration,
    /// Attempts of one call before its error is final (each within the budget).
    pub max_attempts: u32,
    /// From this many domains in flight on, reads and polls come from shared sweeps ([`super::board::Board`])
    /// and writes are batched ([`super::batch::Batcher`]).
    pub bulk_threshold: usize,
    /// How often the shared sweeps run (while a domain waits for one).
    pub bulk_interval: Duration,
    /// How long a batch group waits for more domains before it is sent.
    pub batch_linger: Duration,
    /// A batch group is sent early when no domain joined it for this long.
    pub batch_idle: Duration,
    /// How long batched domains wait for their class's sample to be proved before another
    /// domain is sent as a sample ([`super::proof`]).
    pub proof_patience: Duration,
    /// Groups smaller than this are written domain by domain.
    pub batch_min: usize,
    /// The ShowDomainFullConfig quota, of which the reads before a write (each domain's first
    /// read) may use all but a tenth: the reads of domains already written (the read back that
    /// proves a write, a confirmation, a read after a lost answer) always find room in the window,
    /// instead of waiting behind every other domain's first read.
    pub read_quota: Quota,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            concurrency: 2000,
            request_timeout: Duration::from_secs(20),
            max_attempts: 8,
            bulk_threshold: 20,
            bulk_interval: Duration::from_secs(1),
            batch_linger: Duration::from_secs(2),
            batch_idle: Duration::from_millis(300),
            proof_patience: Duration::from_secs(120),
            batch_min: 5,
            read_quota: Api::ShowFullConfig.documented_quota(),
        }
    }
}

/// What every domain of a run shares.
#[derive(Debug, Clone)]
pub struct Job {
    pub target: Target,
    pub enterprise_project_id: Option<String>,
    pub force: bool,
    pub dry_run: bool,
    pub wait: bool,
    pub overrides: Overrides,
    /// What the run knows of the certificate it deploys, for the no-downgrade rule; `None`
    /// when its names or expiry are unknown (a Certificate Manager certificate left unread).
    pub incoming: Option<Incoming>,
    /// Domains an earlier attempt of a workflow wrote and did not see live: read as written by
    /// this run (live with the certificate: `deployed`; still configuring: `pending`).
    pub written_before: std::collections::BTreeSet<String>,
}

/// The names and expiry of the certificate a run deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Lower-case DNS names.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
}
