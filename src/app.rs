//! One invocation on any platform: classify the event, authenticate HTTP calls, run the handler
//! within the right budget, and shape the answer (the result, or an HTTP response).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::ConfigError;
use crate::deploy::EngineConfig;
use crate::event::{self, Envelope, Platform};
use crate::handler::{Handler, Invocation, Output, EXIT_INVALID};
use crate::http;
use crate::huawei::credential::Credentials;
use crate::metrics;
use crate::request::Strictness;
use crate::result::{DeployResult, ErrorCode, ErrorInfo, RunMode};

/// The platform-neutral application: a handler (or the configuration error that prevents one).
#[derive(Debug, Clone)]
pub struct App {
    pub handler: Result<Handler, ConfigError>,
    pub platform: Platform,
    /// The function's name on its platform, the dimension of the run's metrics.
    pub function_name: String,
}

/// What the platform receives from one invocation.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The result, or an HTTP response for HTTP events.
    pub body: Value,
    /// The process exit code this outcome implies (for `invoke`).
    pub exit_code: i32,
    /// Report an invocation error rather than a response: the event could not be read, or the
    /// request asked for `fail_on_error` and the run is not `ok`. Never for HTTP events, whose
    /// status code carries the outcome.
    pub invocation_error: bool,
    /// The run's metrics record (CloudWatch Embedded Metric Format), for the shell to write on
    /// the platform's log stream; none when no run took place (an unreadable event).
    pub metrics: Option<Value>,
}

/// What the platform tells about one invocation.
#[derive(Debug, Clone)]
pub struct Context {
    /// The budget the platform allows (its deadline less a safety margin).
    pub platform_budget: Duration,
    pub received: Instant,
    /// Credentials that came with the invocation (FunctionGraph agency keys).
    pub credentials: Option<Credentials>,
}

impl App {
    /// The application for this process's configuration (an unusable one answers every
    /// invocation with its error).
    pub fn from_config(
        config: Result<crate::config::Config, ConfigError>,
        platform: Platform,
    ) -> Self {
        App {
            handler: config.map(|config| Handler {
                engine: EngineConfig {
                    concurrency: config
                        .concurrency
                        .unwrap_or(EngineConfig::default().concurrency),
                    ..EngineConfig::default()
                },
                config,
                clock: crate::clock::system(),
            }),
            platform,
            function_name: function_name(|k| std::env::var(k).ok()),
        }
    }
}

/// The function's name on its platform (Lambda's `AWS_LAMBDA_FUNCTION_NAME`, FunctionGraph's
/// `RUNTIME_FUNC_NAME`), else `cdn-cert-deploy`.
pub fn function_name(env: impl Fn(&str) -> Option<String>) -> String {
    ["AWS_LAMBDA_FUNCTION_NAME", "RUNTIME_FUNC_NAME"]
        .into_iter()
        .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "cdn-cert-deploy".into())
}

impl App {
    /// Handles one event.
    pub async fn invoke(&self, event: Value, ctx: Context) -> Reply {
        let handler = match &self.handler {
            Ok(h) => h,
            Err(e) => {
                warn!(variable = %e.variable, error = %e.message, "invalid configuration");
                // An HTTP caller is not authenticated yet (that needs the configuration): it
                // learns nothing of the configuration, the log has the detail.
                if is_http(&event, self.platform) {
                    return Reply {
                        body: http::response(
                            500,
                            &json!({"error": {"code": "internal_error", "message": "the function is not configured correctly; its log says why"}}),
                        ),
                        exit_code: EXIT_INVALID,
                        invocation_error: false,
                        metrics: None,
                    };
                }
                let error = ErrorInfo::new(ErrorCode::InvalidConfiguration, e.to_string())
                    .with_field(e.variable.clone());
                return error_reply(error, false);
            }
        };
        let envelope = match event::classify(&event, self.platform) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "unreadable event");
                return error_reply(
                    ErrorInfo::new(ErrorCode::InvalidRequest, e.to_string()).with_field("event"),
                    false,
                );
            }
        };
        match envelope {
            Envelope::Request {
                trigger,
                request,
                strictness,
                webhook,
            } => {
                info!(trigger = trigger.name(), webhook, "invocation");
                let out = run(handler, request, strictness, ctx, None).await;
                self.with_metrics(direct_reply(&out), handler, &out)
            }
            Envelope::Configured { trigger } => {
                info!(
                    trigger = trigger.name(),
                    "invocation without input: request from DEPLOY_REQUEST"
                );
                if handler.config.default_request.is_none() {
                    let error = ErrorInfo::new(ErrorCode::InvalidConfiguration, "this scheduled event carries no request: set DEPLOY_REQUEST (JSON or @file)")
                    .with_field("DEPLOY_REQUEST");
                    return error_reply(error, false);
                }
                let out = run(handler, json!({}), Strictness::Strict, ctx, None).await;
                self.with_metrics(direct_reply(&out), handler, &out)
            }
            Envelope::Http { trigger, http: req } => {
                let now = handler.clock.unix_now();
                if let Err(r) = http::admit(&req, &handler.config.http_auth, now) {
                    return refused(&r, trigger);
                }
                let (request, webhook) = match event::request_from_body(&req.body) {
                    Ok(r) => r,
                    Err(e) => {
                        let error = ErrorInfo::new(ErrorCode::InvalidRequest, e.to_string())
                            .with_field("body");
                        return error_reply(error, true);
                    }
                };
                if let Err(r) = http::narrow(&request, handler.config.http_auth.allow) {
                    return refused(&r, trigger);
                }
                info!(trigger = trigger.name(), webhook, "HTTP invocation");
                let out = run(
                    handler,
                    request,
                    Strictness::Strict,
                    ctx,
                    http::budget_cap(trigger),
                )
                .await;
                // A doctor's report is an answer whatever it found.
                let status = match &out.doctor {
                    Some(_) => 200,
                    None => http::status_for(&out.result, out.exit_code),
                };
                let reply = Reply {
                    body: http::response(status, &out.to_json()),
                    exit_code: out.exit_code,
                    invocation_error: false,
                    metrics: None,
                };
                self.with_metrics(reply, handler, &out)
            }
        }
    }
}

async fn run(
    handler: &Handler,
    request: Value,
    strictness: Strictness,
    ctx: Context,
    cap: Option<Duration>,
) -> Output {
    let platform_budget = cap.map_or(ctx.platform_budget, |c| c.min(ctx.platform_budget));
    handler
        .handle(Invocation {
            request,
            strictness,
            platform_budget,
            received: ctx.received,
            credentials: ctx.credentials,
        })
        .await
}

impl App {
    /// `reply` with the metrics record of the run behind `out`.
    fn with_metrics(&self, reply: Reply, handler: &Handler, out: &Output) -> Reply {
        // A doctor run deploys nothing: its zeros must not reach the deployment's metrics.
        if out.doctor.is_some() {
            return reply;
        }
        let now_ms = handler.clock.unix_now().saturating_mul(1000);
        Reply {
            metrics: Some(metrics::emf_record(
                &out.result,
                out.calls,
                &self.function_name,
                now_ms,
            )),
            ..reply
        }
    }
}

fn direct_reply(out: &Output) -> Reply {
    Reply {
        // A workflow run is judged by its answer (a function error would end its follow-ups).
        invocation_error: out.fail_on_error && !out.result.ok && out.tally.is_none(),
        body: out.to_json(),
        exit_code: out.exit_code,
        metrics: None,
    }
}

/// An HTTP call refused before any run.
fn refused(r: &http::Rejection, trigger: event::Trigger) -> Reply {
    warn!(trigger = trigger.name(), status = r.status, reason = %r.reason, "HTTP call refused");
    Reply {
        body: http::rejection_response(r),
        exit_code: EXIT_INVALID,
        invocation_error: false,
        metrics: None,
    }
}

/// An answer with no run behind it.
fn error_reply(error: ErrorInfo, as_http: bool) -> Reply {
    let result = DeployResult::new(Vec::new(), RunMode::Deploy, None, 0, 0, Some(error));
    let body = serde_json::to_value(&result).unwrap_or(Value::Null);
    if as_http {
        let status = http::status_for(&result, EXIT_INVALID);
        return Reply {
            body: http::response(status, &body),
            exit_code: EXIT_INVALID,
            invocation_error: false,
            metrics: None,
        };
    }
    Reply {
        body,
        exit_code: EXIT_INVALID,
        invocation_error: true,
        metrics: None,
    }
}

fn is_http(event: &Value, platform: Platform) -> bool {
    matches!(event::classify(event, platform), Ok(Envelope::Http { .. }))
}
