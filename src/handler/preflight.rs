//! The doctor's reads (SPEC section 12): the keys, the certificate, ListDomains, one page of
//! ShowCertificatesHttpsInfo and each domain's ShowDomainFullConfig, at the documented quotas
//! and within the budget. No write call of any kind is made; [`crate::doctor::judge`] decides
//! what the reads say, each domain as soon as it is read (its full config is not kept), and
//! [`crate::doctor::forecast`] replays the deployment over them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;
use tracing::{info, warn};

use super::Handler;
use crate::cert;
use crate::deploy::calls::{self, retrying};
use crate::doctor::dns::Dns;
use crate::doctor::forecast::{self, Forecast, Pace, Quotas, ToWrite};
use crate::doctor::judge::{self, Check, DomainEntry, Seen};
use crate::doctor::Report;
use crate::huawei::cdn::{CallOptions, CdnClient};
use crate::huawei::credential::Credentials;
use crate::huawei::error::CdnError;
use crate::huawei::model::ListedDomain;
use crate::huawei::quota::Api;
use crate::plan;
use crate::request::{CertificateInput, DoctorRequest, MatchMode};
use crate::result::ErrorInfo;

/// Full reads at once (the pacer keeps them at the read quota).
const READS_AT_ONCE: usize = 16;

/// The IAM action each read needs, as Huawei's API reference names it.
fn action(api: Api) -> &'static str {
    match api {
        Api::ShowHttpsInfo => "CDN ReadOnlyAccess (the API reference names no action for it)",
        _ => "cdn:configuration:queryDomains",
    }
}

/// Runs a doctor request with `credentials` (the invocation's or the environment's) within
/// `budget` from `received`.
pub async fn run(
    handler: &Handler,
    doctor: &DoctorRequest,
    credentials: Option<Credentials>,
    received: Instant,
    budget: Duration,
) -> Report {
    let req = &doctor.request;
    let mut checks = Vec::new();
    let described = keys_described(handler, req, &credentials);
    let credentials = match handler
        .account_keys(req, credentials, received, budget)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            checks.push(Check::fail(
                "credentials",
                "no keys: HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not set",
                "set the access key pair in the function's environment, or name the account's keys with huawei_credentials",
            ));
            return Report::of(checks, Vec::new(), None);
        }
        Err(e) => {
            checks.push(refused_store("credentials", &e));
            return Report::of(checks, Vec::new(), None);
        }
    };
    let incoming =
        certificate_checks(handler, req, &credentials, received, budget, &mut checks).await;
    let client = match handler.cdn_client(credentials) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(
                "cdn",
                format!("no HTTP client: {e}"),
                "report this as a bug",
            ));
            return Report::of(checks, Vec::new(), None);
        }
    };
    let deadline = received + budget;
    let Some(listed) = list_checked(handler, req, &client, &described, deadline, &mut checks).await
    else {
        return Report::of(checks, Vec::new(), None);
    };
    let eps = req.enterprise_project_id.as_deref();
    checks.push(https_info_check(&client, eps, deadline, handler).await);
    let account = Account {
        client: &client,
        listed: &listed,
        deadline,
        budget,
    };
    let (entries, forecast) = judge_account(handler, doctor, account, incoming, &mut checks).await;
    info!(
        domains = entries.len(),
        calls = client.stats().total_calls(),
        "doctor finished; nothing was written"
    );
    Report::of(checks, entries, Some(forecast))
}

/// Which keys the run signs with, in words (never their values).
fn keys_described(
    handler: &Handler,
    req: &crate::request::DeployRequest,
    credentials: &Option<Credentials>,
) -> String {
    match (&req.huawei_credentials, credentials) {
        (Some(k), _) => format!("keys from {}", k.describe()),
        (None, Some(_)) if handler.config.credentials.is_none() => {
            "keys that came with the invocation (the FunctionGraph agency)".to_string()
        }
        (None, Some(_)) => {
            "keys from the environment (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK)".to_string()
        }
        (None, None) => String::new(),
    }
}

/// The account's listing, the first signed read: it proves the keys and ListDomains, and the
/// CDN's `Date` header tells the clock's offset. `None` when it was refused (the checks say
/// why, and nothing else can be judged).
async fn list_checked(
    handler: &Handler,
    req: &crate::request::DeployRequest,
    client: &Arc<CdnClient>,
    described: &str,
    deadline: Instant,
    checks: &mut Vec<Check>,
) -> Option<Vec<ListedDomain>> {
    let eps = req.enterprise_project_id.as_deref();
    let listed = calls::list_account(client, eps, deadline, &handler.engine).await;
    let clock = judge::clock(handler.clock.unix_now(), client.server_date());
    match listed {
        Ok(l) => {
            checks.push(Check::ok("credentials", format!("{described} sign reads")));
            checks.push(Check::ok(
                "permission:ListDomains",
                format!("the account lists {} CDN domains", l.len()),
            ));
            checks.push(clock);
            Some(l)
        }
        Err(e) => {
            checks.push(refused_call(Api::ListDomains, &e));
            checks.push(clock);
            checks.push(not_judged());
            None
        }
    }
}

/// What a doctor run reads the domains of.
#[derive(Clone, Copy)]
struct Account<'a> {
    client: &'a Arc<CdnClient>,
    listed: &'a [ListedDomain],
    deadline: Instant,
    budget: Duration,
}

/// Every wanted domain read and judged, their CNAMEs looked up, and the forecast; the checks
/// of the full reads, the write permission, DNS and the domains as a whole.
async fn judge_account(
    handler: &Handler,
    doctor: &DoctorRequest,
    account: Account<'_>,
    incoming: Option<Incoming>,
    checks: &mut Vec<Check>,
) -> (Vec<DomainEntry>, Forecast) {
    let names = incoming.as_ref().and_then(|i| i.names.clone());
    let fingerprint = incoming.as_ref().and_then(|i| i.fingerprint.clone());
    let wanted = wanted_domains(doctor, account.listed, names.as_deref());
    let by_name: HashMap<String, &ListedDomain> = account
        .listed
        .iter()
        .map(|l| (l.domain_name.to_ascii_lowercase(), l))
        .collect();
    let existing = wanted.iter().filter(|d| by_name.contains_key(*d)).count();
    let known = Known {
        names: names.as_deref(),
        fingerprint: fingerprint.as_deref(),
    };
    let Judged {
        mut entries,
        mut writes,
        read,
        refusal,
    } = read_and_judge(account, doctor, &wanted, &by_name, known, handler).await;
    match refusal {
        Some(e) => checks.push(refused_call(Api::ShowFullConfig, &e)),
        None if existing > 0 => checks.push(Check::ok(
            "permission:ShowDomainFullConfig",
            format!("{read} of {existing} domains read in full"),
        )),
        None => {}
    }
    checks.push(Check::warn(
        "permission:write",
        "not proved: a write permission cannot be proved without writing, and the doctor writes nothing",
        "make sure these keys may change the domains' HTTPS settings (UpdateDomainFullConfig, UpdateDomainMultiCertificates)",
    ));
    judge::small_groups(&mut entries, &mut writes, handler.engine.batch_min);
    let listed = account.listed.len() as u64;
    let forecast = forecast_of(
        &writes,
        wanted.len(),
        listed,
        &doctor.request,
        handler,
        account.budget,
    );
    let dns = handler.config.dns_server;
    checks.push(look_up_cnames(&mut entries, &by_name, dns, account.deadline).await);
    if doctor.all {
        // The account's expiry inventory: the soonest first, domains serving none last.
        entries.sort_by_key(|e| e.certificate.as_ref().map_or(i64::MAX, |c| c.days_left));
    }
    checks.push(judge::domains_check(&entries));
    (entries, forecast)
}

/// The forecast of deploying `writes` (request order) in a run of `requested` domains.
fn forecast_of(
    writes: &[Option<ToWrite>],
    requested: usize,
    listed: u64,
    req: &crate::request::DeployRequest,
    handler: &Handler,
    budget: Duration,
) -> Forecast {
    let pace = Pace {
        quotas: Quotas::from_fn(|api| handler.config.quota(api)),
        engine: handler.engine.clone(),
        settle: handler
            .config
            .forecast_settle
            .unwrap_or(Duration::from_secs(forecast::SETTLE_SECONDS)),
    };
    let deploy_budget = plan::budget(
        budget,
        req.options.time_budget_secs,
        handler.config.budget_cap,
    );
    let writes: Vec<ToWrite> = writes.iter().flatten().cloned().collect();
    forecast::forecast(&writes, requested, listed, &pace, deploy_budget)
}

/// What the run knows of the request's certificate.
struct Incoming {
    names: Option<Vec<String>>,
    fingerprint: Option<String>,
}

/// The same, borrowed for judging.
#[derive(Clone, Copy)]
struct Known<'a> {
    names: Option<&'a [String]>,
    fingerprint: Option<&'a str>,
}

/// The certificate's checks (readable, valid, trusted); what is known of it when it reads.
async fn certificate_checks(
    handler: &Handler,
    req: &crate::request::DeployRequest,
    credentials: &Credentials,
    received: Instant,
    budget: Duration,
    checks: &mut Vec<Check>,
) -> Option<Incoming> {
    if matches!(req.certificate, CertificateInput::None) {
        checks.push(Check::ok(
            "certificate",
            "none given: domains are judged without one (give the request's certificate to check it)",
        ));
        return None;
    }
    let (certificate, source) = match handler
        .read_certificate(req, credentials, received, budget)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => return None,
        Err(e) => {
            checks.push(refused_store("certificate", &e));
            return None;
        }
    };
    let now = handler.clock.unix_now();
    let roots = &handler.config.trust_roots;
    match plan::plan(req, certificate, source, now, budget, false, roots) {
        Ok(p) => {
            let s = &p.summary;
            let until = s
                .leaf
                .as_ref()
                .map(|l| l.not_after.clone())
                .or_else(|| s.scm.as_ref().and_then(|f| f.not_after.clone()))
                .unwrap_or_default();
            let mut message = format!("{} reads and is valid until {until}", s.name);
            if let Some(t) = &s.trust {
                message.push_str(&format!("; chain {t}"));
            }
            checks.push(Check::ok("certificate", message));
            Some(Incoming {
                names: p.names,
                fingerprint: p.fingerprint,
            })
        }
        Err(e) => {
            checks.push(Check::fail(
                "certificate",
                format!("{}: {}", e.code, e.message),
                "mend the certificate as the message says: a deployment would refuse it before any call",
            ));
            None
        }
    }
}

/// A store that would not give what the run needs.
fn refused_store(name: &str, e: &ErrorInfo) -> Check {
    Check::fail(
        name,
        format!("{}: {}", e.code, e.message),
        "make the store readable by the function (its role or keys), as the message says",
    )
}

/// A read the CDN refused, explained.
fn refused_call(api: Api, e: &CdnError) -> Check {
    match e {
        CdnError::Api {
            http_status,
            code,
            message,
            ..
        } => judge::refused(api.name(), action(api), *http_status, code, message),
        other => Check::warn(
            format!("permission:{}", api.name()),
            format!("not proved: {other}"),
            "the CDN did not answer: check the endpoint (HUAWEICLOUD_CDN_ENDPOINT) and the network, then run the doctor again",
        ),
    }
}

fn not_judged() -> Check {
    Check::fail(
        "domains",
        "not judged: the account's domains could not be listed",
        "mend the check above, then run the doctor again",
    )
}

/// Each existing domain's DNS CNAME against the one the CDN assigned (ListDomains `cname`); a
/// check says whether DNS could be asked at all.
async fn look_up_cnames(
    entries: &mut [DomainEntry],
    by_name: &HashMap<String, &ListedDomain>,
    server: Option<std::net::SocketAddr>,
    deadline: Instant,
) -> Check {
    const NAME: &str = "dns";
    let dns = match Dns::new(server) {
        Ok(d) => d,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("no resolver: {e}"),
                "set DEPLOY_DNS_SERVER (ip:port) to a resolver the function can reach",
            )
        }
    };
    let asked: Vec<(usize, String, String)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let cname = by_name.get(&e.domain)?.cname.clone()?;
            Some((i, crate::edge::sni_name(&e.domain), cname))
        })
        .collect();
    let dns = &dns;
    let lookups = stream::iter(asked)
        .map(|(i, name, cname)| async move {
            let chain = dns.cnames(&name).await;
            let ok = judge::cname_ok(chain.as_deref().map_err(String::as_str), Some(&cname));
            (i, ok)
        })
        .buffer_unordered(READS_AT_ONCE)
        .collect::<Vec<_>>();
    let Ok(found) = tokio::time::timeout_at(deadline, lookups).await else {
        return Check::warn(
            NAME,
            "the budget ended before DNS answered",
            "run the doctor again with a longer budget",
        );
    };
    let told = found.iter().filter(|(_, ok)| ok.is_some()).count();
    for (i, ok) in &found {
        judge::with_cname(&mut entries[*i], *ok);
    }
    match (found.len(), told) {
        (0, _) => Check::ok(NAME, "no domain has a CDN CNAME to compare"),
        (n, t) if t == n => Check::ok(NAME, format!("DNS answered for all {n} domains")),
        (n, t) => Check::warn(
            NAME,
            format!("DNS could not tell for {} of {n} domains", n - t),
            "check the resolver (DEPLOY_DNS_SERVER, or the system's), then run the doctor again",
        ),
    }
}

/// One page of ShowCertificatesHttpsInfo proves the bulk read a deployment uses.
async fn https_info_check(
    client: &CdnClient,
    eps: Option<&str>,
    deadline: Instant,
    handler: &Handler,
) -> Check {
    let opts = CallOptions::new(handler.engine.request_timeout, deadline);
    let read = retrying(deadline, handler.engine.max_attempts, || {
        client.show_https_info(1, 1, eps, opts.clone())
    })
    .await;
    match read {
        Ok(_) => Check::ok(
            "permission:ShowCertificatesHttpsInfo",
            "the bulk HTTPS read answers",
        ),
        Err(e) => refused_call(Api::ShowHttpsInfo, &e),
    }
}

/// The domains the doctor judges: the request's, or for `certsan`/`all` every listed one the
/// certificate covers (every listed one without a certificate).
fn wanted_domains(
    doctor: &DoctorRequest,
    listed: &[ListedDomain],
    names: Option<&[String]>,
) -> Vec<String> {
    let req = &doctor.request;
    if req.match_mode == MatchMode::Exact && !doctor.all {
        return req.domains.clone();
    }
    let mut out: Vec<String> = listed
        .iter()
        .map(|l| l.domain_name.to_ascii_lowercase())
        .filter(|d| doctor.all || names.is_none_or(|n| cert::covered_by(n, d)))
        .collect();
    for d in &req.domains {
        if !out.contains(d) {
            out.push(d.clone());
        }
    }
    out
}

/// The wanted domains judged, in order, with what the forecast replays of each.
struct Judged {
    entries: Vec<DomainEntry>,
    writes: Vec<Option<ToWrite>>,
    /// Domains read in full.
    read: usize,
    /// The first refused full read.
    refusal: Option<CdnError>,
}

/// Reads each wanted domain that exists in full (16 at a time, the pacer keeping them at the
/// read quota) and judges it as its read answers, in order: only its entry is kept, so memory
/// grows with the entries, not with the domains' configurations. A domain the budget or a
/// refusal leaves unread is judged from its listing.
async fn read_and_judge(
    account: Account<'_>,
    doctor: &DoctorRequest,
    wanted: &[String],
    by_name: &HashMap<String, &ListedDomain>,
    known: Known<'_>,
    handler: &Handler,
) -> Judged {
    let (client, deadline) = (account.client, account.deadline);
    let req = &doctor.request;
    let eps = req.enterprise_project_id.as_deref();
    let overrides = crate::deploy::settings::Overrides {
        http2: req.options.http2,
        tls_version: req.options.tls_version.clone(),
        ocsp_stapling: req.options.ocsp_stapling,
    };
    // As the engine: from this many domains on, writes may be batched.
    let batching = wanted.len() >= handler.engine.bulk_threshold;
    let now = handler.clock.unix_now();
    let opts = CallOptions::new(handler.engine.request_timeout, deadline);
    let mut reads = stream::iter(wanted.iter().cloned())
        .map(|d| {
            let (client, opts) = (client.clone(), opts.clone());
            let exists = by_name.contains_key(&d);
            async move {
                if !exists {
                    return (d, None);
                }
                let read = retrying(deadline, handler.engine.max_attempts, || {
                    client.show_full_config(&d, eps, opts.clone())
                })
                .await;
                (d, Some(read))
            }
        })
        .buffered(READS_AT_ONCE);
    let mut out = Judged {
        entries: Vec::with_capacity(wanted.len()),
        writes: Vec::with_capacity(wanted.len()),
        read: 0,
        refusal: None,
    };
    while let Some((d, read)) = reads.next().await {
        let configs = match read {
            Some(Ok(a)) => {
                out.read += 1;
                Some(a.value)
            }
            None | Some(Err(CdnError::AuthStopped | CdnError::BudgetSpent)) => None,
            Some(Err(e)) => {
                warn!(domain = %d, error = %e, "full read refused");
                if out.refusal.is_none() && matches!(e, CdnError::Api { .. }) {
                    out.refusal = Some(e);
                }
                None
            }
        };
        let seen = Seen {
            name: &d,
            listed: by_name.get(&d).copied(),
            configs: configs.as_ref(),
            names: known.names,
            fingerprint: known.fingerprint,
            now,
            warn_days: i64::from(req.options.warn_days),
            batching,
            overrides: &overrides,
        };
        let entry = judge::domain(&seen);
        out.writes.push(judge::to_write(&seen, &entry));
        out.entries.push(entry);
    }
    out
}
