//! The batch writer: domains whose kept settings are the same are written together with
//! UpdateDomainMultiCertificates (at most 50 a call, 20 calls a minute), instead of one
//! UpdateDomainFullConfig each. A group that stays small is handed back to be written alone, and
//! so is every domain the answer says failed.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use super::calls::retrying;
use super::decide;
use super::job::EngineConfig;
use super::outcome::error_info;
use super::settings::BatchKey;
use super::target::Target;
use crate::error::ErrorCode;
use crate::huawei::cdn::{CallOptions, CdnClient, OnSend};
use crate::huawei::error::{CdnError, ErrorKind};
use crate::result::{ErrorInfo, Status};

/// The most domains one call takes.
pub const MAX_BATCH: usize = 50;

/// How a domain's batched write went.
#[derive(Debug, Clone)]
pub enum BatchReply {
    /// The answer accepted it.
    Written { request_id: Option<String> },
    /// Its group stayed small (or the writer is gone): write it alone; nothing was sent.
    Alone,
    /// The CDN refused it (a failed entry of a 200 answer, or an error answer to the whole
    /// call): nothing was applied. The status says what it means if it is not written again.
    Refused(Status, ErrorInfo),
    /// The call's answer was lost (5xx, connection): the write may have been applied.
    Unknown(CdnError),
}

/// What a domain is told while its group's call is under way.
#[derive(Debug, Clone)]
pub enum BatchEvent {
    /// The call left the process (every attempt).
    Sent,
    /// The attempt was throttled (429): not applied; it is retried.
    Throttled(ErrorInfo),
}

/// Where a domain hears [`BatchEvent`]s.
pub type BatchHook = Arc<dyn Fn(BatchEvent) + Send + Sync>;

/// A domain waiting for its group's call.
struct Item {
    domain: String,
    key: BatchKey,
    /// A sample proves the batch call for its class: its group is sent however small.
    sample: bool,
    hook: BatchHook,
    reply: oneshot::Sender<BatchReply>,
}

/// A pending group as the timing rules see it: when its first and its latest domain joined, how
/// many it has, and whether one is a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupState {
    pub first: Instant,
    pub last: Instant,
    pub len: usize,
    pub sample: bool,
}

impl GroupState {
    /// Whether it may be batched: `batch_min` domains, or a sample (whose group must be batched
    /// to prove the batch call). Smaller groups are handed back.
    pub fn big_enough(&self, cfg: &EngineConfig) -> bool {
        self.len >= cfg.batch_min || self.sample
    }

    /// When it is sent if no other domain joins: `batch_linger` after its first domain, or,
    /// once big enough, `batch_idle` after its latest if that comes sooner. A group too small to
    /// batch waits the whole linger for more domains.
    pub fn due_at(&self, cfg: &EngineConfig) -> Instant {
        let full = self.first + cfg.batch_linger;
        if self.big_enough(cfg) {
            full.min(self.last + cfg.batch_idle)
        } else {
            full
        }
    }

    /// Whether it goes now: full ([`MAX_BATCH`]), due, the queue closed (no domain will join),
    /// or the deadline reached.
    pub fn is_due(&self, now: Instant, open: bool, deadline: Instant, cfg: &EngineConfig) -> bool {
        self.len >= MAX_BATCH || now >= self.due_at(cfg) || !open || now >= deadline
    }
}

/// A domain's handle to the batch writer.
#[derive(Debug, Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Item>,
}

impl Batcher {
    /// Starts the writer. Groups are sent when they reach [`MAX_BATCH`], when no domain joined
    /// them for `batch_idle` (once they have `batch_min`), or `batch_linger` after their first
    /// domain; a group of fewer than `batch_min` domains is handed back.
    pub fn spawn(
        client: Arc<CdnClient>,
        target: Arc<Target>,
        enterprise_project_id: Option<String>,
        deadline: Instant,
        cfg: Arc<EngineConfig>,
    ) -> (Batcher, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
        let task = tokio::spawn(async move {
            // Per group: when its first and its latest domain joined, and its domains.
            let mut groups: HashMap<BatchKey, (Instant, Instant, Vec<Item>)> = HashMap::new();
            let mut open = true;
            while open || !groups.is_empty() {
                let state = |(first, last, items): &(Instant, Instant, Vec<Item>)| GroupState {
                    first: *first,
                    last: *last,
                    len: items.len(),
                    sample: items.iter().any(|i| i.sample),
                };
                let next_due = groups.values().map(|g| state(g).due_at(&cfg)).min();
                let wake = next_due.unwrap_or(deadline).min(deadline);
                tokio::select! {
                    msg = rx.recv(), if open => match msg {
                        Some(item) => {
                            let now = Instant::now();
                            let group = groups
                                .entry(item.key.clone())
                                .or_insert_with(|| (now, now, Vec::new()));
                            group.1 = now;
                            group.2.push(item);
                        }
                        None => open = false,
                    },
                    _ = tokio::time::sleep_until(wake), if next_due.is_some() || !open => {}
                }
                let now = Instant::now();
                let due: Vec<(BatchKey, bool)> = groups
                    .iter()
                    .filter(|(_, g)| state(g).is_due(now, open, deadline, &cfg))
                    .map(|(k, g)| (k.clone(), state(g).big_enough(&cfg)))
                    .collect();
                for (key, big_enough) in due {
                    let (_, _, items) = groups.remove(&key).expect("due groups exist");
                    if !big_enough {
                        for item in items {
                            let _ = item.reply.send(BatchReply::Alone);
                        }
                        continue;
                    }
                    tokio::spawn(send(
                        client.clone(),
                        target.clone(),
                        enterprise_project_id.clone(),
                        deadline,
                        cfg.clone(),
                        key,
                        items,
                    ));
                }
            }
        });
        (Batcher { tx }, task)
    }

    /// Queues `domain` for a batched write with group `key` and waits for the outcome, telling
    /// `hook` when the call leaves; a `sample`'s group is sent even below `batch_min`.
    pub async fn write(
        &self,
        domain: &str,
        key: BatchKey,
        sample: bool,
        hook: BatchHook,
    ) -> BatchReply {
        let (reply, answer) = oneshot::channel();
        let item = Item {
            domain: domain.to_string(),
            key,
            sample,
            hook,
            reply,
        };
        if self.tx.send(item).is_err() {
            return BatchReply::Alone;
        }
        answer.await.unwrap_or(BatchReply::Alone)
    }
}

/// Sends one group (in chunks of [`MAX_BATCH`]) and tells each domain how it went.
async fn send(
    client: Arc<CdnClient>,
    target: Arc<Target>,
    enterprise_project_id: Option<String>,
    deadline: Instant,
    cfg: Arc<EngineConfig>,
    key: BatchKey,
    items: Vec<Item>,
) {
    let mut items = items;
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(MAX_BATCH));
        let chunk = std::mem::replace(&mut items, rest);
        let domains: Vec<String> = chunk.iter().map(|i| i.domain.clone()).collect();
        let body = decide::batch_put(&domains, &key, &target);
        let hooks: Vec<BatchHook> = chunk.iter().map(|i| i.hook.clone()).collect();
        let tell = Arc::new(move |event: BatchEvent| {
            for hook in &hooks {
                hook(event.clone());
            }
        });
        let sent = tell.clone();
        let opts = CallOptions {
            on_send: Some(OnSend(Arc::new(move || sent(BatchEvent::Sent)))),
            ..CallOptions::new(cfg.request_timeout, deadline)
        };
        let eps = enterprise_project_id.as_deref();
        // 429s are retried here; a lost answer is not (the domains re-read first).
        let result = retrying(deadline, cfg.max_attempts, || async {
            match client
                .update_multi_certificates(&body, eps, opts.clone())
                .await
            {
                Err(e) if e.kind() == ErrorKind::Throttled => {
                    tell(BatchEvent::Throttled(error_info(&e)));
                    Err(e)
                }
                Err(e) => Ok(Err(e)),
                Ok(a) => Ok(Ok(a)),
            }
        })
        .await;
        match result {
            Ok(Ok(answer)) => {
                let failures: HashMap<String, String> =
                    answer.value.failures().into_iter().collect();
                info!(
                    domains = domains.len(),
                    failed = failures.len(),
                    request_id = answer.request_id.as_deref(),
                    "batch write answered"
                );
                for item in chunk {
                    let reply = match failures.get(&item.domain) {
                        Some(reason) => {
                            let mut error = ErrorInfo::new(
                                ErrorCode::UpstreamRejected,
                                format!(
                                    "the batch write refused this domain: {}",
                                    refusal_reason(reason)
                                ),
                            );
                            error.http_status = Some(200);
                            BatchReply::Refused(Status::Failed, error)
                        }
                        None => BatchReply::Written {
                            request_id: answer.request_id.clone(),
                        },
                    };
                    let _ = item.reply.send(reply);
                }
            }
            Ok(Err(e)) | Err(e) => {
                warn!(domains = domains.len(), error = %e, "batch write failed");
                let status = match e.kind() {
                    ErrorKind::Throttled | ErrorKind::Busy | ErrorKind::NotSent => Status::Skipped,
                    _ => Status::Failed,
                };
                for item in chunk {
                    let reply = match e.kind() {
                        ErrorKind::Server | ErrorKind::Transport => BatchReply::Unknown(e.clone()),
                        _ => BatchReply::Refused(status, error_info(&e)),
                    };
                    let _ = item.reply.send(reply);
                }
            }
        }
    }
}

/// The longest per-domain reason kept from a batch answer.
const MAX_REASON: usize = 300;

/// The CDN's per-domain reason as a result and a log may carry it: through the one redactor
/// (an echo of the request may quote the private key) and capped.
fn refusal_reason(reason: &str) -> String {
    let safe = crate::redact::upstream(reason);
    if safe.chars().count() > MAX_REASON {
        safe.chars().take(MAX_REASON).collect::<String>() + "…"
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reason_is_redacted_and_capped() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMNdo\n-----END PRIVATE KEY-----";
        let echoed = format!("invalid private_key: {key} {}", "x".repeat(2000));
        let r = refusal_reason(&echoed);
        assert!(!r.contains("MIGHAgEAMBMG"), "{r}");
        assert!(r.chars().count() <= MAX_REASON + 1, "{}", r.len());
        assert_eq!(refusal_reason("certificate expired"), "certificate expired");
    }
    use std::time::Duration;

    #[test]
    fn when_a_group_goes() {
        let cfg = EngineConfig::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let far = t0 + Duration::from_secs(600);
        let g = |len, sample, last_ms| GroupState {
            first: t0,
            last: t0 + ms(last_ms),
            len,
            sample,
        };
        // Small: waits the whole linger; a sample makes it big enough.
        assert!(!g(2, false, 0).big_enough(&cfg));
        assert_eq!(g(2, false, 0).due_at(&cfg), t0 + cfg.batch_linger);
        assert!(g(1, true, 0).big_enough(&cfg));
        // Big enough: idle after the latest, unless the linger ends first.
        assert_eq!(g(5, false, 100).due_at(&cfg), t0 + ms(100) + cfg.batch_idle);
        assert_eq!(g(5, false, 1900).due_at(&cfg), t0 + cfg.batch_linger);
        // Full, closed, past the deadline: now.
        assert!(g(MAX_BATCH, false, 0).is_due(t0, true, far, &cfg));
        assert!(g(5, false, 0).is_due(t0, false, far, &cfg));
        assert!(g(5, false, 0).is_due(t0, true, t0, &cfg));
        assert!(!g(5, false, 0).is_due(t0 + ms(10), true, far, &cfg));
        assert!(g(5, false, 0).is_due(t0 + cfg.batch_idle, true, far, &cfg));
    }
}
