//! The one handler every platform shell calls: a request (already taken out of its envelope)
//! in, a result out. It validates everything before the first API call, plans which domains to
//! attempt, runs the engine within the budget, and assembles the result. A doctor request is
//! answered by the read-only preflight (`preflight`) instead.

mod preflight;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::deploy::select::{self, Selected};
use crate::deploy::{deploy_all, error_info, list_account, EngineConfig};
use crate::doctor;
use crate::edge::{self, EdgeReport};
use crate::huawei::cdn::CdnClient;
use crate::huawei::credential::Credentials;
use crate::huawei::model::ListedDomain;
use crate::huawei::quota::{Api, Pacer};
use crate::metrics::Calls;
use crate::notify::digest::{Measure, Style};
use crate::notify::{self, Channels};
use crate::plan::{self, Certificate, Plan};
use crate::request::{self, CertificateInput, DeployRequest, MatchMode, Strictness};
use crate::result::{
    mark_expiring, CertificateSummary, DeployResult, DomainResult, ErrorCode, ErrorInfo, RunDigest,
    RunMode, Status,
};
use crate::source::{self, Fetched, Reason, ScmCheck};
use crate::trust::{self, Trust};
use crate::workflow::{self, Tally, WorkflowRun};

pub use crate::result::{EXIT_INVALID, EXIT_NOT_OK, EXIT_OK};

/// A store read before any CDN call that failed (a certificate source, an SCM certificate, the
/// account's keys), as the run's error naming the request's `field`: an outage of the store
/// (retryable) is not a bad request: it exits 1, so a shell loop may retry.
fn store_error(e: &source::SourceError, code: ErrorCode, field: &str) -> ErrorInfo {
    ErrorInfo::new(code, e.to_string())
        .with_retryable(e.reason == Reason::Unavailable)
        .with_field(field)
        .with_reason(e.reason.word())
}

/// The longest digest text a result carries.
const DIGEST_BYTES: usize = 4096;

/// One invocation as a platform shell hands it over.
#[derive(Clone)]
pub struct Invocation {
    /// The request (defaults not yet merged).
    pub request: Value,
    pub strictness: Strictness,
    /// The budget the platform allows (its deadline less a safety margin).
    pub platform_budget: Duration,
    /// When the invocation was received; the budget counts from here.
    pub received: Instant,
    /// Credentials that came with the invocation (FunctionGraph agency keys); they win over the
    /// environment's.
    pub credentials: Option<Credentials>,
}

/// The request may carry a private key: Debug shows its shape only.
impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("request", &crate::redact::Shape(&self.request))
            .field("strictness", &self.strictness)
            .field("platform_budget", &self.platform_budget)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// What the handler answers: the result, and the process exit code it implies.
#[derive(Debug, Clone)]
pub struct Output {
    pub result: DeployResult,
    pub exit_code: i32,
    /// `options.fail_on_error` of the request (false when it could not be read).
    pub fail_on_error: bool,
    /// The CDN calls the run made (none when it never got to the API).
    pub calls: Calls,
    /// A Step Functions workflow run's tally of the account: the answer is then compact.
    pub tally: Option<Box<Tally>>,
    /// A doctor run's report: the answer is the report (`result` is empty).
    pub doctor: Option<Box<doctor::Report>>,
}

impl Output {
    /// The same output, for a request that asked to fail on error.
    pub fn with_fail_on_error(mut self, fail_on_error: bool) -> Self {
        self.fail_on_error = fail_on_error;
        self
    }

    /// The result as JSON.
    pub fn to_json(&self) -> Value {
        if let Some(report) = &self.doctor {
            return serde_json::to_value(report).unwrap_or(Value::Null);
        }
        match &self.tally {
            Some(tally) => workflow::compact(&self.result, tally),
            None => serde_json::to_value(&self.result).unwrap_or(Value::Null),
        }
    }
}

/// Shared, process-wide dependencies of the handler.
#[derive(Debug, Clone)]
pub struct Handler {
    pub config: Config,
    pub clock: SharedClock,
    pub engine: EngineConfig,
}

impl Handler {
    /// Runs one deploy request, then tells a person when `DEPLOY_NOTIFY_ON` says so (inside the
    /// budget; the channels' outcomes are added to the result, nothing else changes).
    pub async fn handle(&self, inv: Invocation) -> Output {
        let received = inv.received;
        let credentials = inv
            .credentials
            .clone()
            .or_else(|| self.config.credentials.clone());
        // The event's action, or DEPLOY_REQUEST's for a schedule that carries no input.
        let doctor = match &self.config.default_request {
            Some(d) if inv.request.get("action").is_none() => request::is_doctor(d),
            _ => request::is_doctor(&inv.request),
        };
        if doctor {
            return self.doctor(inv, credentials).await;
        }
        let workflow = workflow_of(&inv.request);
        let mut out = self.deploy(inv, credentials.clone()).await;
        if let Some(w) = workflow {
            // The workflow tells people once for every account: this run only tallies.
            let tally = Tally::after(w.tally.as_ref(), &out.result);
            let digest = workflow::account_digest(&tally, &out.result);
            out.result.digest = Some(run_digest(digest));
            info!(
                attempt = w.attempt,
                account_pending = tally.pending,
                "workflow run tallied; the workflow tells people"
            );
            out.tally = Some(Box::new(tally));
            return out;
        }
        let digest = notify::digest::digest(&out.result);
        out.result.digest = Some(run_digest(digest));
        let notify = &self.config.notify;
        if notify.any() && notify::due(notify.on, &out.result) {
            let channels = self.channels(credentials.as_ref());
            let end = received + Duration::from_millis(out.result.budget_ms);
            out.result.notifications = notify::deliver(&channels, &out.result, end).await;
            out.result.elapsed_ms = received.elapsed().as_millis() as u64;
        }
        out
    }

    /// The notification channels, sending SMN with `huawei` keys.
    fn channels<'a>(&'a self, huawei: Option<&'a Credentials>) -> Channels<'a> {
        Channels {
            config: &self.config.notify,
            aws: &self.config.sources.aws,
            huawei,
            clock: self.clock.clone(),
        }
    }

    /// The event's request with `DEPLOY_REQUEST` filling what it leaves out.
    fn with_defaults(&self, request: &Value) -> Value {
        match &self.config.default_request {
            Some(d) => request::merge_defaults(d, request),
            None => request.clone(),
        }
    }

    /// A doctor run (SPEC section 12): read-only, answered with its report.
    async fn doctor(&self, inv: Invocation, credentials: Option<Credentials>) -> Output {
        let received = inv.received;
        let budget = plan::budget(inv.platform_budget, None, self.config.budget_cap);
        let merged = self.with_defaults(&inv.request);
        let doctor = match request::parse_doctor(merged, inv.strictness) {
            Ok((d, unknown)) => {
                log_ignored(&unknown);
                d
            }
            Err(e) => {
                warn!(field = %e.field, error = %e.message, "invalid doctor request");
                let error =
                    ErrorInfo::new(ErrorCode::InvalidRequest, e.to_string()).with_field(e.field);
                return invalid(error, Vec::new(), received, budget);
            }
        };
        info!(
            all = doctor.all,
            domains = doctor.request.domains.len(),
            "doctor started"
        );
        let mut report = preflight::run(self, &doctor, credentials.clone(), received, budget).await;
        let notify = &self.config.notify;
        if notify.any() && doctor::tell::due(notify.on, &report) {
            let channels = self.channels(credentials.as_ref());
            let digest = doctor::tell::digest(&report);
            let whole = || serde_json::to_value(&report).unwrap_or(Value::Null);
            let end = received + budget;
            report.notifications = notify::send(&channels, &digest, &whole, end).await;
        }
        Output {
            result: DeployResult::new(
                Vec::new(),
                RunMode::DryRun,
                None,
                received.elapsed().as_millis() as u64,
                budget.as_millis() as u64,
                None,
            ),
            exit_code: report.exit_code(),
            fail_on_error: false,
            calls: Calls::default(),
            tally: None,
            doctor: Some(Box::new(report)),
        }
    }

    /// The keys to sign with: the account's, when the request names where they live (read
    /// with the function's own keys for CSMS, or its role for AWS stores), else `credentials`
    /// (the invocation's or the environment's).
    pub(crate) async fn account_keys(
        &self,
        req: &DeployRequest,
        credentials: Option<Credentials>,
        received: Instant,
        budget: Duration,
    ) -> Result<Option<Credentials>, ErrorInfo> {
        // The account's keys, when the request names where they live: read before anything
        // else, with the function's own keys (for CSMS) or role (AWS stores).
        Ok(match &req.huawei_credentials {
            None => credentials,
            Some(keys) => {
                let deadline = plan::keys_deadline(received, budget);
                let fetched = source::keys::fetch_keys(
                    keys,
                    &self.config.sources,
                    credentials.clone(),
                    self.clock.clone(),
                    deadline,
                )
                .await;
                match fetched {
                    Ok(c) => {
                        info!(keys = %keys.describe(), access_key = %c.access_key_hint(), "account keys read");
                        Some(c)
                    }
                    Err(e) => {
                        warn!(keys = %e.source_name, reason = e.reason.word(),
                              request_id = e.request_id.as_deref(), error = %e.detail,
                              "account keys unreadable; no CDN call made");
                        return Err(store_error(
                            &e,
                            ErrorCode::HuaweiCredentials,
                            "huawei_credentials",
                        ));
                    }
                }
            }
        })
    }

    /// The request's certificate (`None` when it has none: a doctor run), read from its store
    /// when it names one, with an SCM certificate's names read from Certificate Manager, and
    /// the store it came from. Nothing is called on the CDN unless it reads.
    pub(crate) async fn read_certificate(
        &self,
        req: &DeployRequest,
        credentials: &Credentials,
        received: Instant,
        budget: Duration,
    ) -> Result<Option<(Certificate, Option<String>)>, ErrorInfo> {
        // A certificate kept in a store is read first; nothing is called on the CDN unless it
        // reads and validates.
        let (certificate, source) = match &req.certificate {
            CertificateInput::None => return Ok(None),
            CertificateInput::Pem { chain, private_key } => (
                Certificate::Pem {
                    chain: chain.clone(),
                    private_key: private_key.clone(),
                },
                None,
            ),
            CertificateInput::Scm { id } => (
                Certificate::Scm {
                    id: id.clone(),
                    facts: None,
                },
                None,
            ),
            CertificateInput::Source(src) => {
                let fetch_deadline = plan::certificate_deadline(received, budget);
                let fetched = source::fetch(
                    src,
                    &self.config.sources,
                    Some(credentials.clone()),
                    self.clock.clone(),
                    fetch_deadline,
                )
                .await;
                match fetched {
                    Ok(Fetched::Pem { chain, private_key }) => {
                        info!(source = %src.describe(), "certificate read from its source");
                        let pem = Certificate::Pem { chain, private_key };
                        (pem, Some(src.describe()))
                    }
                    Ok(Fetched::Scm { id }) => {
                        (Certificate::Scm { id, facts: None }, Some(src.describe()))
                    }
                    Err(e) => {
                        warn!(source = %e.source_name, reason = e.reason.word(),
                              request_id = e.request_id.as_deref(), error = %e.detail,
                              "certificate source unreadable; no CDN call made");
                        return Err(store_error(
                            &e,
                            ErrorCode::CertificateSource,
                            "certificate_source",
                        ));
                    }
                }
            }
        };
        // An SCM certificate's names are read from Certificate Manager, so that they choose the
        // domains as a PEM leaf's do; nothing is called on the CDN unless they read.
        let certificate = match certificate {
            Certificate::Scm { id, facts: None }
                if self.config.sources.scm_check == ScmCheck::Names =>
            {
                let deadline = plan::certificate_deadline(received, budget);
                self.describe_scm(id, source.clone(), credentials, deadline)
                    .await?
            }
            other => other,
        };
        Ok(Some((certificate, source)))
    }

    /// The deployment itself: read the request, fetch the certificate, plan, then run the plan
    /// within the budget and assemble the result.
    /// `credentials` are the invocation's (FunctionGraph agency keys), else the environment's.
    async fn deploy(&self, inv: Invocation, credentials: Option<Credentials>) -> Output {
        let received = inv.received;
        let budget = plan::budget(inv.platform_budget, None, self.config.budget_cap);
        let merged = self.with_defaults(&inv.request);
        let (req, unknown) = match request::parse(merged, inv.strictness) {
            Ok(r) => r,
            Err(e) => {
                warn!(field = %e.field, error = %e.message, "invalid request");
                let error =
                    ErrorInfo::new(ErrorCode::InvalidRequest, e.to_string()).with_field(e.field);
                return invalid(error, Vec::new(), received, budget);
            }
        };
        log_ignored(&unknown);
        let budget = plan::budget(
            inv.platform_budget,
            req.options.time_budget_secs,
            self.config.budget_cap,
        );
        let rejected = |error: ErrorInfo| {
            invalid(error, req.domains.clone(), received, budget)
                .with_fail_on_error(req.options.fail_on_error)
        };
        let credentials = match self.account_keys(&req, credentials, received, budget).await {
            Ok(c) => c,
            Err(error) => return rejected(error),
        };
        let Some(credentials) = credentials else {
            let error = ErrorInfo::new(
                ErrorCode::InvalidConfiguration,
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not set",
            )
            .with_field("HUAWEICLOUD_SDK_AK");
            return rejected(error);
        };
        let (certificate, source) = match self
            .read_certificate(&req, &credentials, received, budget)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => {
                let error = ErrorInfo::new(ErrorCode::InvalidRequest, "certificate: missing: give `certificate` + `private_key` (PEM), `scm_certificate_id` or `certificate_source`")
                    .with_field("certificate");
                return rejected(error);
            }
            Err(error) => return rejected(error),
        };
        let notify = self.config.notify.any();
        let now = self.clock.unix_now();
        let roots = &self.config.trust_roots;
        let plan = match plan::plan(&req, certificate, source, now, budget, notify, roots) {
            Ok(p) => p,
            Err(error) => {
                warn!(code = %error.code, error = %error.message, "certificate rejected");
                return rejected(error);
            }
        };
        log_chain(&plan.summary, req.options.trust);
        info!(
            domains = req.domains.len(),
            certificate = plan.summary.name.as_str(),
            fingerprint = plan.fingerprint.as_deref(),
            trust = plan.summary.trust.as_deref(),
            budget_ms = budget.as_millis() as u64,
            dry_run = req.options.dry_run,
            force = req.options.force,
            access_key = %credentials.access_key_hint(),
            endpoint = self.config.endpoint.as_str(),
            "deploy started"
        );
        let client = match self.cdn_client(credentials) {
            Ok(c) => c,
            Err(e) => {
                let error =
                    ErrorInfo::new(ErrorCode::UpstreamUnavailable, format!("HTTP client: {e}"));
                return rejected(error);
            }
        };
        self.run(&req, plan, received, &client).await
    }

    /// A CDN client signing with `credentials`, paced at the configured quotas.
    pub(crate) fn cdn_client(
        &self,
        credentials: Credentials,
    ) -> Result<Arc<CdnClient>, reqwest::Error> {
        CdnClient::new(
            self.config.endpoint.clone(),
            credentials,
            self.clock.clone(),
            Pacer::new(|api| self.config.quota(api)),
        )
        .map(Arc::new)
    }

    /// An SCM certificate with its names, dates and status as Certificate Manager describes them;
    /// the run's error when they cannot be read (named after `source` when the id came from one).
    async fn describe_scm(
        &self,
        id: String,
        source: Option<String>,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<Certificate, ErrorInfo> {
        let field = if source.is_some() {
            "certificate_source"
        } else {
            "scm_certificate_id"
        };
        let described = source.unwrap_or_else(|| format!("SCM certificate `{id}`"));
        let read = source::scm_certificate(
            &id,
            described,
            &self.config.sources,
            Some(credentials.clone()),
            self.clock.clone(),
            deadline,
        )
        .await;
        match read {
            Ok(answer) => {
                let facts = answer.facts();
                info!(scm_certificate_id = %id, names = ?facts.subject_names,
                      not_after = facts.not_after.as_deref(),
                      status = facts.status.as_deref(),
                      domain_count = facts.domain_count,
                      "SCM certificate described by Certificate Manager");
                Ok(Certificate::Scm {
                    id,
                    facts: Some(facts),
                })
            }
            Err(e) => {
                warn!(scm_certificate_id = %id, reason = e.reason.word(),
                      request_id = e.request_id.as_deref(), error = %e.detail,
                      "SCM certificate unreadable; no CDN call made");
                Err(store_error(&e, ErrorCode::CertificateSource, field))
            }
        }
    }

    /// Runs a plan: chooses the domains (listing the account for `certsan`), deploys them
    /// within the budget, checks the edges when asked, and assembles the result.
    async fn run(
        &self,
        req: &DeployRequest,
        plan: Plan,
        received: Instant,
        client: &Arc<CdnClient>,
    ) -> Output {
        let Plan {
            job,
            summary,
            names,
            fingerprint,
            verify_edge,
            timing,
        } = plan;
        let deadline = received + timing.deploy;
        let eps = req.enterprise_project_id.as_deref();
        let frame = Frame::new(req, received, timing.budget, client);

        // Which domains: those the certificate does not cover are skipped, the others go on.
        let mut listed: Option<Vec<ListedDomain>> = None;
        let selected = match (req.match_mode, &names) {
            (MatchMode::Exact, names) => select::exact(&req.domains, names.as_deref()),
            // The plan refuses certsan without the certificate's names.
            (MatchMode::Certsan, None) => Vec::new(),
            (MatchMode::Certsan, Some(names)) => {
                match list_account(client, eps, deadline, &self.engine).await {
                    Ok(l) => {
                        let selected = select::certsan(&l, names, &req.domains);
                        listed = Some(l);
                        selected
                    }
                    Err(e) => {
                        warn!(error = %e, "could not list the account's domains");
                        return self.finish(&frame, Vec::new(), summary, Some(error_info(&e)));
                    }
                }
            }
        };
        if selected.is_empty() {
            let error = Some(ErrorInfo::new(
                ErrorCode::NoMatchingDomains,
                "no CDN domain of the account is covered by the certificate's names",
            ));
            return self.finish(&frame, Vec::new(), summary, error);
        }
        let to_deploy: Vec<String> = selected
            .iter()
            .filter_map(|s| match s {
                Selected::Deploy(d) => Some(d.clone()),
                Selected::Skip(d, e) => {
                    warn!(domain = %d, code = %e.code, "skipped: {}", e.message);
                    None
                }
            })
            .collect();
        let engine = EngineConfig {
            read_quota: self.config.quota(Api::ShowFullConfig),
            ..self.engine.clone()
        };
        let job = Arc::new(job);
        let mut deployed = deploy_all(client.clone(), job, &to_deploy, deadline, engine)
            .await
            .into_iter();
        let mut domains: Vec<DomainResult> = selected
            .into_iter()
            .map(|s| match s {
                Selected::Skip(d, e) => DomainResult::skipped(&d, e),
                Selected::Deploy(_) => deployed.next().expect("one result per deployed domain"),
            })
            .collect();
        if verify_edge {
            let edge_deadline = deadline + timing.edge;
            let fingerprint = fingerprint.as_deref();
            self.check_edges(
                &mut domains,
                listed,
                client,
                eps,
                edge_deadline,
                fingerprint,
            )
            .await;
        }
        self.finish(&frame, domains, summary, None)
    }

    /// Reads what the CDN edge serves for each live domain (`options.verify_edge`): the CNAMEs
    /// from the listing (made now unless `certsan` made it), then one handshake per domain.
    async fn check_edges(
        &self,
        domains: &mut [DomainResult],
        listed: Option<Vec<ListedDomain>>,
        client: &CdnClient,
        eps: Option<&str>,
        deadline: Instant,
        new_fingerprint: Option<&str>,
    ) {
        let live: Vec<usize> = (0..domains.len())
            .filter(|&i| matches!(domains[i].status, Status::Deployed | Status::Unchanged))
            .collect();
        if live.is_empty() {
            return;
        }
        let listed = match listed {
            Some(l) => Ok(l),
            None => list_account(client, eps, deadline, &self.engine).await,
        };
        let cnames: HashMap<String, Option<String>> = match &listed {
            Ok(l) => l
                .iter()
                .map(|d| (d.domain_name.to_ascii_lowercase(), d.cname.clone()))
                .collect(),
            Err(e) => {
                warn!(error = %e, "could not list the domains' CNAMEs for the edge check");
                let report = EdgeReport::failed(
                    None,
                    ErrorCode::EdgeNoCname,
                    format!("the domains' CNAMEs could not be listed: {e}"),
                );
                for &i in &live {
                    domains[i].edge = Some(Box::new(report.clone()));
                }
                return;
            }
        };
        let targets = live
            .iter()
            .map(|&i| edge::Target {
                domain: domains[i].domain.clone(),
                cname: cnames.get(&domains[i].domain).cloned().flatten(),
            })
            .collect();
        let reports = edge::check_all(
            targets,
            &self.config.edge_connect,
            new_fingerprint,
            deadline,
        )
        .await;
        for (&i, report) in live.iter().zip(reports) {
            let d = &domains[i];
            match (&report.error, report.is_stale()) {
                (Some(e), _) => {
                    warn!(domain = %d.domain, code = %e.code, error = %e.message, "edge not read")
                }
                (None, true) => warn!(domain = %d.domain, address = report.address.as_deref(),
                                      served = report.sha256_fingerprint.as_deref(),
                                      "the edge still serves another certificate"),
                (None, false) => info!(domain = %d.domain, address = report.address.as_deref(),
                                       served = report.sha256_fingerprint.as_deref(), "edge read"),
            }
            domains[i].edge = Some(Box::new(report));
        }
    }

    /// Assembles the result of a run that got as far as the API.
    fn finish(
        &self,
        frame: &Frame<'_>,
        domains: Vec<DomainResult>,
        summary: CertificateSummary,
        error: Option<ErrorInfo>,
    ) -> Output {
        let Frame {
            req,
            received,
            budget,
            client,
        } = *frame;
        let mut domains = domains;
        let new_not_after = summary
            .leaf
            .as_ref()
            .map(|l| l.not_after_unix)
            .or_else(|| summary.scm.as_ref().and_then(|s| s.not_after_unix));
        let horizon = self.clock.unix_now() + i64::from(req.options.warn_days) * 86_400;
        mark_expiring(&mut domains, new_not_after, horizon);
        let expiring: Vec<&str> = domains
            .iter()
            .filter(|d| d.expiring)
            .map(|d| d.domain.as_str())
            .collect();
        if !expiring.is_empty() {
            warn!(domains = ?expiring, warn_days = req.options.warn_days,
                  "domains still serve a certificate that expires soon");
        }
        let mode = if req.options.dry_run {
            RunMode::DryRun
        } else if !req.options.wait {
            RunMode::NoWait
        } else {
            RunMode::Deploy
        };
        let result = DeployResult::new(
            domains,
            mode,
            Some(summary),
            received.elapsed().as_millis() as u64,
            budget.as_millis() as u64,
            error,
        );
        info!(
            ok = result.ok,
            deployed = result.summary.deployed,
            unchanged = result.summary.unchanged,
            pending = result.summary.pending,
            failed = result.summary.failed,
            skipped = result.summary.skipped,
            api_calls = client.stats().total_calls(),
            elapsed_ms = result.elapsed_ms,
            "deploy finished"
        );
        let exit_code = if result.ok { EXIT_OK } else { EXIT_NOT_OK };
        let calls = Calls {
            made: client.stats().total_calls(),
            throttled: Api::ALL.iter().map(|a| client.stats().throttled(*a)).sum(),
        };
        Output {
            result,
            exit_code,
            fail_on_error: req.options.fail_on_error,
            calls,
            tally: None,
            doctor: None,
        }
    }
}

/// What a run's result is assembled from besides its domains.
#[derive(Clone, Copy)]
struct Frame<'a> {
    req: &'a DeployRequest,
    received: Instant,
    budget: Duration,
    client: &'a CdnClient,
}

impl<'a> Frame<'a> {
    fn new(
        req: &'a DeployRequest,
        received: Instant,
        budget: Duration,
        client: &'a CdnClient,
    ) -> Self {
        Self {
            req,
            received,
            budget,
            client,
        }
    }
}

/// Logs how the chain was judged when the check was skipped, and what was changed in it.
fn log_chain(summary: &CertificateSummary, trust: Trust) {
    if trust == Trust::Any {
        warn!(
            certificate = summary.name.as_str(),
            "trust {}: the chain is deployed unverified",
            trust::NOT_CHECKED
        );
    }
    for note in &summary.chain {
        info!(
            certificate = summary.name.as_str(),
            note = note.as_str(),
            "chain normalized"
        );
    }
}

/// A digest as the result carries it: the subject, and the text cut to a few KiB.
fn run_digest(digest: notify::digest::Digest) -> RunDigest {
    RunDigest {
        text: digest.render(Style::Plain, false, DIGEST_BYTES, Measure::Bytes),
        subject: digest.subject,
    }
}

/// Logs the unknown fields a chained payload carried (they are ignored, not refused).
fn log_ignored(unknown: &[String]) {
    for field in unknown {
        warn!(field = %field, "ignored an unknown field of a chained payload");
    }
}

/// The workflow's part of a request (`workflow`), when it reads; one that does not is refused
/// by the request's own parsing.
fn workflow_of(request: &Value) -> Option<WorkflowRun> {
    serde_json::from_value(request.get("workflow")?.clone()).ok()
}

/// An invalid request or configuration: nothing was called; every known domain is listed as
/// skipped with the same error, so nothing is lost.
fn invalid(error: ErrorInfo, domains: Vec<String>, received: Instant, budget: Duration) -> Output {
    let exit_code = error.exit_code();
    let domains = domains
        .iter()
        .map(|d| DomainResult::skipped(d, error.clone()))
        .collect::<Vec<_>>();
    Output {
        result: DeployResult::new(
            domains,
            RunMode::Deploy,
            None,
            received.elapsed().as_millis() as u64,
            budget.as_millis() as u64,
            Some(error),
        ),
        exit_code,
        fail_on_error: false,
        calls: Calls::default(),
        tally: None,
        doctor: None,
    }
}
