//! Calling the CDN within the budget: retries with backoff, naps that keep time for one more
//! call, and paged list calls read in full.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::time::Instant;
use tracing::info;

use super::decide;
use super::job::EngineConfig;
use crate::huawei::cdn::{Answer, CallOptions, CdnClient};
use crate::huawei::error::CdnError;
use crate::huawei::model::{ListedDomain, Paged};

/// The latest instant a call may start: a second before `deadline`, so its answer still counts.
pub fn last_call_by(deadline: Instant) -> Instant {
    deadline
        .checked_sub(Duration::from_secs(1))
        .unwrap_or(deadline)
}

/// Sleeps `d`, or until a second before `deadline` when `d` would end later (keeping time for one
/// more call); false when not even that is left.
pub async fn nap(deadline: Instant, d: Duration) -> bool {
    let latest = last_call_by(deadline);
    let now = Instant::now();
    let mut wake = now + d;
    if wake > latest {
        // One last look just before the end is worth more than giving up early.
        if latest < now + Duration::from_millis(250) {
            return false;
        }
        wake = latest;
    }
    tokio::time::sleep_until(wake).await;
    true
}

/// The wait before retrying after `e`: the server's `Retry-After` if longer than the backoff.
pub fn retry_wait(e: &CdnError, attempt: u32) -> Duration {
    let backoff = decide::retry_delay(attempt, fastrand::f64());
    match e {
        CdnError::Api {
            retry_after: Some(after),
            ..
        } => (*after).max(backoff),
        _ => backoff,
    }
}

/// Runs `call` until it succeeds, fails for good, has been tried `max_attempts` times, or the
/// budget leaves no time for another try; retryable errors (429, 5xx, connection) are retried
/// with jittered backoff.
pub async fn retrying<T, F, Fut>(
    deadline: Instant,
    max_attempts: u32,
    mut call: F,
) -> Result<T, CdnError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CdnError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.retryable() && attempt + 1 < max_attempts => {
                if !nap(deadline, retry_wait(&e, attempt)).await {
                    return Err(e);
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// ListDomains page size: the documented maximum (an entry is small).
pub const LIST_PAGE: u32 = 10_000;
/// ShowCertificatesHttpsInfo page size: each entry carries a certificate chain of a few KB, so
/// pages of 1000 keep one answer to a few MB (10 000 would be tens of MB in a 128 MB function).
pub const HTTPS_INFO_PAGE: u32 = 1_000;
/// Pages fetched at once after the first (which tells how many there are).
const PAGES_AT_ONCE: usize = 4;

/// Every entry of a paged list call, each turned by `map` as its page arrives (so a page's
/// bulk is dropped before the next), in the CDN's order, with the request id of each page.
pub async fn all_pages<P, F, Fut, M, Out>(
    deadline: Instant,
    cfg: &EngineConfig,
    what: &'static str,
    page_size: u32,
    fetch: F,
    mut map: M,
) -> Result<(Vec<Out>, Vec<String>), CdnError>
where
    P: Paged,
    F: Fn(u32, u32, CallOptions) -> Fut,
    Fut: Future<Output = Result<Answer<P>, CdnError>>,
    M: FnMut(P::Item) -> Out,
{
    let opts = CallOptions::new(cfg.request_timeout, deadline);
    let page = |n: u32| {
        let opts = opts.clone();
        let fetch = &fetch;
        async move {
            let answer = retrying(deadline, cfg.max_attempts, || {
                fetch(n, page_size, opts.clone())
            })
            .await?;
            let (entries, total) = answer.value.into_page();
            info!(
                call = what,
                page = n,
                request_id = answer.request_id.as_deref(),
                listed = entries.len(),
                total,
                "listed a page"
            );
            Ok::<_, CdnError>((entries, total, answer.request_id))
        }
    };
    let (first, total, id) = page(1).await?;
    let mut request_ids: Vec<String> = id.into_iter().collect();
    let got = first.len();
    let mut all: Vec<Out> = Vec::with_capacity(usize::try_from(total).unwrap_or(got).max(got));
    all.extend(first.into_iter().map(&mut map));
    if got < page_size as usize || all.len() as u64 >= total {
        return Ok((all, request_ids));
    }
    let pages = total
        .div_ceil(u64::from(page_size))
        .min(u64::from(u32::MAX)) as u32;
    let mut rest = stream::iter(2..=pages).map(page).buffered(PAGES_AT_ONCE);
    while let Some((entries, _, id)) = rest.try_next().await? {
        request_ids.extend(id);
        all.extend(entries.into_iter().map(&mut map));
    }
    Ok((all, request_ids))
}

/// Every domain of the account (ListDomains, all pages), in the CDN's order.
pub async fn list_account(
    client: &CdnClient,
    enterprise_project_id: Option<&str>,
    deadline: Instant,
    cfg: &EngineConfig,
) -> Result<Vec<ListedDomain>, CdnError> {
    let pages = all_pages(
        deadline,
        cfg,
        "ListDomains",
        LIST_PAGE,
        |page, size, opts| client.list_domains(page, size, enterprise_project_id, opts),
        |d| d,
    );
    Ok(pages.await?.0)
}
