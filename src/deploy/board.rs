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

use super::calls::{all_pages, HTTPS_INFO_PAGE, LIST_PAGE};
use super::job::EngineConfig;
use super::settings::BulkEntry;
use crate::cert::{leaf_facts, LeafFacts};
use crate::huawei::cdn::CdnClient;
use crate::huawei::model::DomainStatus;

/// One sweep: every domain's status and HTTPS settings as the bulk reads gave them, by lower-case
/// name.
#[derive(Debug)]
pub struct Sweep {
    /// When the sweep began: only a sweep begun after a domain's write can speak for it.
    pub started: Instant,
    pub statuses: HashMap<String, DomainStatus>,
    pub https: HashMap<String, BulkEntry>,
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

/// The facts of each certificate a sweep met, so that the same few certificates (the old one,
/// the new one) are parsed once per run, not once per domain and sweep.
#[derive(Default)]
struct FactsCache(HashMap<String, Option<LeafFacts>>);

impl FactsCache {
    /// Entries kept at most; an account with more distinct certificates parses some again.
    const MAX: usize = 4096;

    fn facts(&mut self, pem: &str) -> Option<LeafFacts> {
        if let Some(f) = self.0.get(pem) {
            return f.clone();
        }
        let f = leaf_facts(pem);
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(pem.to_string(), f.clone());
        f
    }
}

impl Board {
    /// Starts the sweeper: a sweep begins as soon as a domain waits for one, at most one per
    /// `cfg.bulk_interval` (or per the last sweep's own length, for an account so large that a
    /// sweep takes longer), until `deadline` (or until the handle is aborted).
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
            let mut last: Option<(Instant, Duration)> = None;
            let mut cache = FactsCache::default();
            loop {
                while someone_waits.load(Ordering::SeqCst) == 0 {
                    tokio::select! {
                        _ = woken.notified() => {}
                        _ = tokio::time::sleep_until(deadline) => return,
                    }
                }
                let next =
                    last.map_or_else(Instant::now, |(start, took)| start + interval.max(took));
                if next >= deadline {
                    return;
                }
                tokio::time::sleep_until(next).await;
                let started = Instant::now();
                let eps = enterprise_project_id.as_deref();
                let listed = all_pages(
                    deadline,
                    &cfg,
                    "ListDomains",
                    LIST_PAGE,
                    |page, size, opts| client.list_domains(page, size, eps, opts),
                    |l| (l.domain_name.to_ascii_lowercase(), l.domain_status),
                );
                let https = all_pages(
                    deadline,
                    &cfg,
                    "ShowCertificatesHttpsInfo",
                    HTTPS_INFO_PAGE,
                    |page, size, opts| client.show_https_info(page, size, eps, opts),
                    // Each page's certificates are dropped as soon as their facts are read.
                    |h| {
                        let name = h.domain_name.to_ascii_lowercase();
                        (name, BulkEntry::new(h, |pem| cache.facts(pem)))
                    },
                );
                let (listed, https) = tokio::join!(listed, https);
                last = Some((started, started.elapsed()));
                match (listed, https) {
                    (Ok((statuses, mut ids)), Ok((https, https_ids))) => {
                        ids.extend(https_ids);
                        let sweep = Sweep {
                            started,
                            statuses: statuses.into_iter().collect(),
                            https: https.into_iter().collect(),
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
