//! The one handler every platform shell calls: a request (already taken out of its envelope)
//! in, a result out. It validates everything before the first API call, plans which domains to
//! attempt, runs the engine within the budget, and assembles the result.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::cert;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::deploy::select::{self, Selected};
use crate::deploy::settings::Overrides;
use crate::deploy::{deploy_all, error_info, list_account, EngineConfig, Job, Target};
use crate::edge::{self, EdgeReport};
use crate::huawei::cdn::CdnClient;
use crate::huawei::credential::Credentials;
use crate::huawei::model::ListedDomain;
use crate::huawei::quota::{Api, Pacer};
use crate::metrics::Calls;
use crate::notify::{self, Channels};
use crate::request::{self, CertificateInput, DeployRequest, MatchMode, Strictness};
use crate::result::{
    mark_expiring, CertificateSummary, DeployResult, DomainResult, ErrorCode, ErrorInfo, RunMode,
    Status,
};
use crate::source::{self, Fetched, Reason};

pub use crate::result::{EXIT_INVALID, EXIT_NOT_OK, EXIT_OK};

/// One invocation as a platform shell hands it over.
#[derive(Debug, Clone)]
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

/// What the handler answers: the result, and the process exit code it implies.
#[derive(Debug, Clone)]
pub struct Output {
    pub result: DeployResult,
    pub exit_code: i32,
    /// `options.fail_on_error` of the request (false when it could not be read).
    pub fail_on_error: bool,
    /// The CDN calls the run made (none when it never got to the API).
    pub calls: Calls,
}

impl Output {
    /// The same output, for a request that asked to fail on error.
    pub fn with_fail_on_error(mut self, fail_on_error: bool) -> Self {
        self.fail_on_error = fail_on_error;
        self
    }

    /// The result as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.result).unwrap_or(Value::Null)
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
        let mut out = self.deploy(inv).await;
        let notify = &self.config.notify;
        if notify.any() && notify::due(notify.on, &out.result) {
            let channels = Channels {
                config: notify,
                aws: &self.config.sources.aws,
                huawei: credentials.as_ref(),
                clock: self.clock.clone(),
            };
            let end = received + Duration::from_millis(out.result.budget_ms);
            out.result.notifications = notify::deliver(&channels, &out.result, end).await;
            out.result.elapsed_ms = received.elapsed().as_millis() as u64;
        }
        out
    }

    /// The deployment itself: validate, plan, deploy within the budget, assemble the result.
    async fn deploy(&self, inv: Invocation) -> Output {
        let received = inv.received;
        let budget = self.budget(&inv, None);
        let merged = match &self.config.default_request {
            Some(d) => request::merge_defaults(d, &inv.request),
            None => inv.request.clone(),
        };
        let (mut req, unknown) = match request::parse(merged, inv.strictness) {
            Ok(r) => r,
            Err(e) => {
                warn!(field = %e.field, error = %e.message, "invalid request");
                let error =
                    ErrorInfo::new("invalid_request", e.to_string(), false).with_field(e.field);
                return invalid(error, Vec::new(), received, budget);
            }
        };
        for field in &unknown {
            warn!(field = %field, "ignored an unknown field of a chained payload");
        }
        let budget = self.budget(&inv, req.options.time_budget_secs);
        let Some(credentials) = inv
            .credentials
            .clone()
            .or_else(|| self.config.credentials.clone())
        else {
            let error = ErrorInfo::new(
                ErrorCode::InvalidConfiguration,
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not set",
                false,
            )
            .with_field("HUAWEICLOUD_SDK_AK");
            return invalid(error, req.domains.clone(), received, budget)
                .with_fail_on_error(req.options.fail_on_error);
        };
        // A certificate kept in a store is read first; nothing is called on the CDN unless it
        // reads and validates.
        let source = match &req.certificate {
            CertificateInput::Source(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(src) = &source {
            // Half the budget at most: the deployment needs the rest.
            let fetch_deadline = received + budget / 2;
            match source::fetch(
                src,
                &self.config.sources,
                Some(credentials.clone()),
                self.clock.clone(),
                fetch_deadline,
            )
            .await
            {
                Ok(Fetched::Pem { chain, private_key }) => {
                    info!(source = %src.describe(), "certificate read from its source");
                    req.certificate = CertificateInput::Pem { chain, private_key };
                }
                Ok(Fetched::Scm { id }) => req.certificate = CertificateInput::Scm { id },
                Err(e) => {
                    warn!(source = %e.source_name, reason = e.reason.word(),
                          request_id = e.request_id.as_deref(), error = %e.detail,
                          "certificate source unreadable; no CDN call made");
                    let error = ErrorInfo::new(
                        "certificate_source",
                        e.to_string(),
                        e.reason == Reason::Unavailable,
                    )
                    .with_field("certificate_source")
                    .with_reason(e.reason.word());
                    // An outage of the store (retryable) is not a bad request: exit 1, so a
                    // shell loop may retry.
                    return invalid(error, req.domains.clone(), received, budget)
                        .with_fail_on_error(req.options.fail_on_error);
                }
            }
        }
        let Validated {
            target,
            mut summary,
            names,
        } = match self.target(&req) {
            Ok(v) => v,
            Err(error) => {
                let error = match &source {
                    // The store's content is at fault, not the request: say which store.
                    Some(src) => ErrorInfo::new(
                        "certificate_source",
                        format!("{}: {}", src.describe(), error.message),
                        false,
                    )
                    .with_field("certificate_source")
                    .with_reason(error.code.to_string()),
                    None => error,
                };
                return invalid(error, req.domains.clone(), received, budget)
                    .with_fail_on_error(req.options.fail_on_error);
            }
        };
        summary.source = source.as_ref().map(|s| s.describe());
        info!(
            domains = req.domains.len(),
            certificate = summary.name.as_str(),
            fingerprint = summary.leaf.as_ref().map(|l| l.sha256_fingerprint.as_str()),
            budget_ms = budget.as_millis() as u64,
            dry_run = req.options.dry_run,
            force = req.options.force,
            access_key = %credentials.access_key_hint(),
            endpoint = self.config.endpoint.as_str(),
            "deploy started"
        );

        let client = match CdnClient::new(
            self.config.endpoint.clone(),
            credentials,
            self.clock.clone(),
            Pacer::new(|api| self.config.quota(api)),
        ) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                let error =
                    ErrorInfo::new("upstream_unavailable", format!("HTTP client: {e}"), true);
                return invalid(error, req.domains.clone(), received, budget)
                    .with_fail_on_error(req.options.fail_on_error);
            }
        };
        let verify_edge = req.options.verify_edge && !req.options.dry_run;
        let edge_reserve = if verify_edge {
            (budget / 6).min(edge::CHECK_TIMEOUT)
        } else {
            Duration::ZERO
        };
        let reserve = finishing_reserve(budget) + self.notify_reserve(budget) + edge_reserve;
        let deadline = received + budget.saturating_sub(reserve);
        let eps = req.enterprise_project_id.as_deref();

        // Which domains: those the certificate does not cover are skipped, the others go on.
        let mut listed: Option<Vec<ListedDomain>> = None;
        let selected = match (req.match_mode, &names) {
            (MatchMode::Exact, names) => select::exact(&req.domains, names.as_deref()),
            (MatchMode::Certsan, None) => {
                let error = ErrorInfo::new(
                    "invalid_request",
                    "\"match\": \"certsan\" needs the certificate itself (its names choose the domains), not scm_certificate_id",
                    false,
                )
                .with_field("match");
                return invalid(error, req.domains.clone(), received, budget)
                    .with_fail_on_error(req.options.fail_on_error);
            }
            (MatchMode::Certsan, Some(names)) => {
                match list_account(&client, eps, deadline, &self.engine).await {
                    Ok(l) => {
                        let selected = select::certsan(&l, names, &req.domains);
                        listed = Some(l);
                        selected
                    }
                    Err(e) => {
                        warn!(error = %e, "could not list the account's domains");
                        let error = Some(error_info(&e));
                        let frame = Frame::new(&req, received, budget, &client);
                        return self.finish(&frame, Vec::new(), summary, error);
                    }
                }
            }
        };
        if selected.is_empty() {
            let error = Some(ErrorInfo::new(
                "no_matching_domains",
                "no CDN domain of the account is covered by the certificate's names",
                false,
            ));
            let frame = Frame::new(&req, received, budget, &client);
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
        let new_fingerprint = match &target {
            Target::Pem { fingerprint, .. } => Some(fingerprint.clone()),
            Target::Scm { .. } => None,
        };
        let job = Arc::new(Job {
            target,
            enterprise_project_id: req.enterprise_project_id.clone(),
            force: req.options.force,
            dry_run: req.options.dry_run,
            wait: req.options.wait,
            overrides: Overrides {
                http2: req.options.http2,
                tls_version: req.options.tls_version.clone(),
                ocsp_stapling: req.options.ocsp_stapling,
            },
            no_sm_certificates: req.options.no_sm_certificates,
        });
        let engine = EngineConfig {
            read_quota: self.config.quota(Api::ShowFullConfig),
            ..self.engine.clone()
        };
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
            let edge_deadline = deadline + edge_reserve;
            let fingerprint = new_fingerprint.as_deref();
            self.check_edges(
                &mut domains,
                listed,
                &client,
                eps,
                edge_deadline,
                fingerprint,
            )
            .await;
        }
        let frame = Frame::new(&req, received, budget, &client);
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
                let error = ErrorInfo::new(
                    "edge_no_cname",
                    format!("the domains' CNAMEs could not be listed: {e}"),
                    true,
                );
                for &i in &live {
                    domains[i].edge = Some(EdgeReport {
                        error: Some(error.clone()),
                        ..EdgeReport::default()
                    });
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
            domains[i].edge = Some(report);
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
        let new_not_after = summary.leaf.as_ref().map(|l| l.not_after_unix);
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
        }
    }

    /// Time kept at the end of the budget for the notifications, when a channel is configured.
    fn notify_reserve(&self, budget: Duration) -> Duration {
        if self.config.notify.any() {
            (budget / 6).min(NOTIFY_RESERVE)
        } else {
            Duration::ZERO
        }
    }

    /// The run's budget: the smallest of the platform's, the request's and the configured cap.
    fn budget(&self, inv: &Invocation, requested_secs: Option<u64>) -> Duration {
        [
            Some(inv.platform_budget),
            requested_secs.map(Duration::from_secs),
            self.config.budget_cap,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(inv.platform_budget)
    }

    /// Validates the certificate (no API call before this passes) and describes it.
    fn target(&self, req: &DeployRequest) -> Result<Validated, ErrorInfo> {
        match &req.certificate {
            CertificateInput::Pem { chain, private_key } => {
                let bundle =
                    cert::validate(chain, private_key, self.clock.unix_now()).map_err(|e| {
                        warn!(code = e.code(), error = %e, "certificate rejected");
                        ErrorInfo::new(e.code(), e.to_string(), false).with_field(e.field())
                    })?;
                let name = req
                    .certificate_name
                    .clone()
                    .unwrap_or_else(|| cert::derive_name(&bundle.leaf));
                let names = bundle.leaf.subject_names.clone();
                Ok(Validated {
                    target: Target::Pem {
                        name: name.clone(),
                        chain_pem: bundle.chain_pem,
                        private_key: bundle.private_key,
                        fingerprint: bundle.leaf.sha256_fingerprint.clone(),
                    },
                    summary: CertificateSummary {
                        name,
                        scm_certificate_id: None,
                        source: None,
                        leaf: Some(bundle.leaf),
                    },
                    names: Some(names),
                })
            }
            CertificateInput::Scm { id } => {
                let name = req.certificate_name.clone().unwrap_or_else(|| id.clone());
                Ok(Validated {
                    target: Target::Scm {
                        id: id.clone(),
                        name: name.clone(),
                    },
                    summary: CertificateSummary {
                        name,
                        scm_certificate_id: Some(id.clone()),
                        source: None,
                        leaf: None,
                    },
                    names: None,
                })
            }
            CertificateInput::Source(s) => Err(ErrorInfo::new(
                "internal_error",
                format!("{} was not read before validation", s.describe()),
                false,
            )),
        }
    }
}

/// A certificate that passed validation: what to deploy, how the result describes it, and the
/// names it covers (unknown for a Certificate Manager id).
struct Validated {
    target: Target,
    summary: CertificateSummary,
    names: Option<Vec<String>>,
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

/// The most kept back for notifications: a few tries of a chat webhook.
const NOTIFY_RESERVE: Duration = Duration::from_secs(5);

/// Time kept back at the end of the budget to assemble and send the answer.
fn finishing_reserve(budget: Duration) -> Duration {
    (budget / 10).min(Duration::from_millis(500))
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
    }
}
