//! The board: with many domains in flight, one sweep (ListDomains for every domain's status,
//! ShowCertificatesHttpsInfo for every domain's certificate and settings) answers all of them at
//! once, instead of a per-domain read of each for every domain at every poll. The first sweep
//! is the snapshot the domains start from; later ones confirm them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use super::engine::{all_pages, EngineConfig};
use crate::huawei::cdn::CdnClient;
use crate::huawei::model::{DomainStatus, HttpsDetail};

/// One sweep: every domain's status and HTTPS settings as the bulk reads gave them, by lower-case
/// name.
#[derive(Debug)]
pub struct Sweep {
    /// When the sweep began: only a sweep begun after a domain's write can speak for it.
    pub started: Instant,
    pub statuses: HashMap<String, DomainStatus>,
    pub https: HashMap<String, HttpsDetail>,
    /// The request ids of the sweep's calls, for the results of the domains it decided.
    pub request_ids: Vec<String>,
}

/// A domain's view of the board.
#[derive(Debug, Clone)]
pub struct Board {
    rx: watch::Receiver<Option<Arc<Sweep>>>,
    /// Domains waiting for a sweep; the board sweeps only while there are some.
    waiting: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    /// The shortest time between the starts of two sweeps.
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
    /// Starts the sweeper: a sweep begins as soon as a domain waits for one, at most one per
    /// `cfg.bulk_interval`, until `deadline` (or until the handle is aborted).
    pub fn spawn(
        client: Arc<CdnClient>,
        enterprise_project_id: Option<String>,
        deadline: Instant,
        cfg: Arc<EngineConfig>,
    ) -> (Board, JoinHandle<()>) {
        let interval = cfg.bulk_interval;
        let (tx, rx) = watch::channel(None);
        let waiting = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let (someone_waits, woken) = (waiting.clone(), wake.clone());
        let task = tokio::spawn(async move {
            let mut last: Option<Instant> = None;
            loop {
                while someone_waits.load(Ordering::SeqCst) == 0 {
                    tokio::select! {
                        _ = woken.notified() => {}
                        _ = tokio::time::sleep_until(deadline) => return,
                    }
                }
                let next = last.map_or_else(Instant::now, |l| l + interval);
                if next >= deadline {
                    return;
                }
                tokio::time::sleep_until(next).await;
                let started = Instant::now();
                last = Some(started);
                let eps = enterprise_project_id.as_deref();
                let (listed, https) = tokio::join!(
                    all_pages(deadline, &cfg, "ListDomains", |page, size, opts| {
                        client.list_domains(page, size, eps, opts)
                    }),
                    all_pages(
                        deadline,
                        &cfg,
                        "ShowCertificatesHttpsInfo",
                        |page, size, opts| { client.show_https_info(page, size, eps, opts) }
                    ),
                );
                match (listed, https) {
                    (Ok((listed, mut ids)), Ok((https, https_ids))) => {
                        ids.extend(https_ids);
                        let sweep = Sweep {
                            started,
                            statuses: listed
                                .into_iter()
                                .map(|l| (l.domain_name.to_ascii_lowercase(), l.domain_status))
                                .collect(),
                            https: https
                                .into_iter()
                                .map(|h| (h.domain_name.to_ascii_lowercase(), h))
                                .collect(),
                            request_ids: ids,
                        };
                        info!(
                            domains = sweep.statuses.len(),
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "swept every domain's status and certificate"
                        );
                        let _ = tx.send(Some(Arc::new(sweep)));
                    }
                    // Domains fall back to their own reads until a sweep succeeds again.
                    (Err(e), _) | (_, Err(e)) => warn!(error = %e, "sweep failed"),
                }
            }
        });
        let board = Board {
            rx,
            waiting,
            wake,
            interval,
        };
        (board, task)
    }

    /// The first sweep begun after `after` (any sweep when `None`), waiting for it until `limit`;
    /// `None` if none came.
    pub async fn sweep_after(
        &mut self,
        after: Option<Instant>,
        limit: Instant,
    ) -> Option<Arc<Sweep>> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(self.waiting.clone());
        self.wake.notify_one();
        loop {
            if let Some(s) = self.rx.borrow_and_update().as_ref() {
                if after.is_none_or(|a| s.started > a) {
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
