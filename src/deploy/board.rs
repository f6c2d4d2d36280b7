//! The status board: with many domains waiting to go live, one ListDomains sweep per interval
//! tells each of them its own status, instead of one ShowDomainDetailByName per domain per poll.
//! A domain still confirms its own certificate with its own read before it is `deployed`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

use super::engine::{list_account, EngineConfig};
use crate::huawei::cdn::CdnClient;
use crate::huawei::model::DomainStatus;

/// One sweep: every domain's status as ListDomains gave it.
#[derive(Debug)]
pub struct Sweep {
    /// When the sweep began: only a sweep begun after a domain's write can speak for it.
    pub started: Instant,
    pub statuses: HashMap<String, DomainStatus>,
}

/// A domain's view of the board.
#[derive(Debug, Clone)]
pub struct Board {
    rx: watch::Receiver<Option<Arc<Sweep>>>,
    /// Domains waiting for a sweep; the board sweeps only while there are some.
    waiting: Arc<AtomicUsize>,
    /// How often the board sweeps.
    pub interval: Duration,
}

/// Counts a domain as waiting for as long as it is held.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Board {
    /// Starts sweeping every `interval` until `deadline` (or until the handle is aborted).
    pub fn spawn(
        client: Arc<CdnClient>,
        enterprise_project_id: Option<String>,
        deadline: Instant,
        cfg: Arc<EngineConfig>,
        interval: Duration,
    ) -> (Board, JoinHandle<()>) {
        let (tx, rx) = watch::channel(None);
        let waiting = Arc::new(AtomicUsize::new(0));
        let someone_waits = waiting.clone();
        let task = tokio::spawn(async move {
            loop {
                let wake = Instant::now() + interval;
                if wake >= deadline {
                    return;
                }
                tokio::time::sleep_until(wake).await;
                if someone_waits.load(Ordering::SeqCst) == 0 {
                    continue;
                }
                let started = Instant::now();
                match list_account(&client, enterprise_project_id.as_deref(), deadline, &cfg).await
                {
                    Ok(listed) => {
                        let statuses = listed
                            .into_iter()
                            .map(|l| (l.domain_name.to_ascii_lowercase(), l.domain_status))
                            .collect();
                        let _ = tx.send(Some(Arc::new(Sweep { started, statuses })));
                    }
                    // Domains fall back to their own reads until a sweep succeeds again.
                    Err(e) => warn!(error = %e, "status sweep failed"),
                }
            }
        });
        (
            Board {
                rx,
                waiting,
                interval,
            },
            task,
        )
    }

    /// The first sweep begun after `after`, waiting for it until `limit`; `None` if none came.
    pub async fn sweep_after(&mut self, after: Instant, limit: Instant) -> Option<Arc<Sweep>> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(self.waiting.clone());
        loop {
            if let Some(s) = self.rx.borrow_and_update().as_ref() {
                if s.started > after {
                    return Some(s.clone());
                }
            }
            match tokio::time::timeout_at(limit, self.rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return None,
            }
        }
    }
}
