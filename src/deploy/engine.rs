//! The async driver: runs every domain as its own task (bounded concurrency), each through read →
//! decide → write → confirm, within one deadline. Decisions come from [`super::decide`]; this
//! module only calls, sleeps and records. A domain's failure, panic or timeout becomes its own
//! result and never touches the others.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{warn, Instrument};

use super::batch::Batcher;
use super::board::Board;
use super::domain::DomainCtx;
pub use super::job::{EngineConfig, Job};
use super::outcome::{out_of_budget, result_of, Outcome, Phase, Progress};
use super::proof::Prover;
use crate::error::ErrorCode;
use crate::huawei::cdn::CdnClient;
use crate::huawei::quota::{Quota, Window};
use crate::result::{DomainResult, ErrorInfo, Status};

/// The share of the read quota the reads before a write may use: all but a tenth.
pub fn first_read_quota(read: Quota) -> Quota {
    Quota::new(
        read.count - (read.count / 10).max(1).min(read.count - 1),
        read.window,
    )
}

/// Deploys `job` to every domain, in order, and returns one result each, in the same order.
pub async fn deploy_all(
    client: Arc<CdnClient>,
    job: Arc<Job>,
    domains: &[String],
    deadline: Instant,
    cfg: EngineConfig,
) -> Vec<DomainResult> {
    let concurrency = cfg.concurrency;
    let cfg = Arc::new(cfg);
    // Shared sweeps and batches pay off only with many domains in flight together.
    let many = domains.len().min(concurrency) >= cfg.bulk_threshold && !job.dry_run;
    let (board, sweeper) = if many {
        let (board, task) = Board::spawn(
            client.clone(),
            job.enterprise_project_id.clone(),
            deadline,
            cfg.clone(),
        );
        (Some(board), Some(task))
    } else {
        (None, None)
    };
    let prover = Prover::new(cfg.proof_patience, many);
    let batcher = many.then(|| {
        Batcher::spawn(
            client.clone(),
            Arc::new(job.target.clone()),
            job.enterprise_project_id.clone(),
            deadline,
            cfg.clone(),
        )
        .0
    });
    let first_reads = Arc::new(Mutex::new(Window::new(first_read_quota(cfg.read_quota))));
    let written_before = job.written_before.clone();
    let start = move |domain: &str| match written_before.contains(domain) {
        // An earlier attempt's write: at the deadline it is pending, not skipped.
        true => Phase::MaybeWritten,
        false => Phase::default(),
    };
    let results = run_contained(
        domains,
        concurrency,
        deadline,
        start,
        move |domain, progress| {
            let ctx = DomainCtx {
                first_reads: first_reads.clone(),
                client: client.clone(),
                job: job.clone(),
                cfg: cfg.clone(),
                domain,
                deadline,
                progress,
                board: board.clone(),
                batcher: batcher.clone(),
                prover: prover.clone(),
            };
            async move { ctx.run().await }
        },
    )
    .await;
    if let Some(task) = sweeper {
        task.abort();
    }
    results
}

/// Runs `work` for every domain as its own task, at most `concurrency` at once, each cut at
/// `deadline`, and returns one result per domain in order, whatever its task did: a task that
/// panics, or is still running at the deadline, gets a result from how far it got.
async fn run_contained<F, Fut>(
    domains: &[String],
    concurrency: usize,
    deadline: Instant,
    start: impl Fn(&str) -> Phase,
    work: F,
) -> Vec<DomainResult>
where
    F: Fn(String, Arc<Mutex<Progress>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let work = Arc::new(work);
    let mut running = Vec::with_capacity(domains.len());
    for domain in domains {
        let progress = Arc::new(Mutex::new(Progress {
            phase: start(domain),
            ..Progress::default()
        }));
        let (permits, p, name, work) = (
            permits.clone(),
            progress.clone(),
            domain.clone(),
            work.clone(),
        );
        let span = tracing::info_span!("domain", domain = %domain);
        let task = tokio::spawn(
            async move {
                let outcome = tokio::select! {
                    // At the deadline a freed permit must not start a queued domain.
                    biased;
                    _ = tokio::time::sleep_until(deadline) => None,
                    permit = permits.acquire_owned() => {
                        let _permit = permit;
                        progress_of(&p).started = Some(Instant::now());
                        // Made (and boxed) only now: a queued domain holds a small task, not a
                        // whole deployment's state.
                        let job = Box::pin(work(name.clone(), p.clone()));
                        let outcome = tokio::time::timeout_at(deadline, job).await.ok();
                        progress_of(&p).finished = Some(Instant::now());
                        outcome
                    }
                };
                let p = progress_of(&p);
                let outcome = outcome.unwrap_or_else(|| out_of_budget(&p));
                result_of(&name, &p, outcome)
            }
            .instrument(span),
        );
        running.push((domain.clone(), progress, task));
    }

    let mut results = Vec::with_capacity(running.len());
    for (domain, progress, mut task) in running {
        // The task ends by the deadline on its own; the grace covers a task stuck outside an
        // await point, which is aborted.
        let grace = deadline + Duration::from_millis(250);
        let joined = match tokio::time::timeout_at(grace, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                let p = progress_of(&progress);
                Ok(result_of(&domain, &p, out_of_budget(&p)))
            }
        };
        results.push(match joined {
            Ok(result) => result,
            Err(e) => {
                let p = progress_of(&progress);
                warn!(domain = %domain, panicked = e.is_panic(), "the domain's task ended abnormally");
                let status = if p.phase >= Phase::MaybeWritten {
                    Status::Pending
                } else {
                    Status::Failed
                };
                let error = ErrorInfo::new(ErrorCode::InternalError, "internal error while deploying this domain (the others were not affected)");
                result_of(&domain, &p, Outcome::err(status, error))
            }
        });
    }
    results
}

fn progress_of(p: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_panicking_domain_does_not_touch_the_others() {
        let domains = names(&["a.example.com", "boom.example.com", "c.example.com"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        let results = run_contained(
            &domains,
            2,
            deadline,
            |_| Phase::default(),
            |domain, _| async move {
                if domain.starts_with("boom") {
                    panic!("simulated bug");
                }
                Outcome::ok(Status::Deployed, "fine")
            },
        )
        .await;
        let got: Vec<(&str, Status)> = results
            .iter()
            .map(|r| (r.domain.as_str(), r.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.example.com", Status::Deployed),
                ("boom.example.com", Status::Failed),
                ("c.example.com", Status::Deployed)
            ]
        );
        assert_eq!(results[1].error.as_ref().unwrap().code, "internal_error");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_turns_written_domains_pending_and_queued_ones_skipped() {
        let domains = names(&[
            "written.example.com",
            "reading.example.com",
            "queued.example.com",
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let results = run_contained(
            &domains,
            2,
            deadline,
            |_| Phase::default(),
            |domain, progress| async move {
                progress_of(&progress).phase = if domain.starts_with("written") {
                    Phase::Written
                } else {
                    Phase::Reading
                };
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Outcome::ok(Status::Deployed, "never")
            },
        )
        .await;
        let got: Vec<Status> = results.iter().map(|r| r.status).collect();
        assert_eq!(got, vec![Status::Pending, Status::Skipped, Status::Skipped]);
        assert_eq!(results[1].error.as_ref().unwrap().code, "budget_exhausted");
        assert_eq!(results[2].error.as_ref().unwrap().code, "budget_exhausted");
        assert!(results[2].error.as_ref().unwrap().message.contains("turn"));
    }
}
