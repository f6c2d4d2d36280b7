//! Telling a person: after a run, its digest ([`digest`], pure) goes to every channel configured
//! ([`config`]): SNS ([`sns`]), SMN ([`smn`]) and a chat webhook ([`webhook`]), when
//! `DEPLOY_NOTIFY_ON` says so. Delivery is part of the run and inside its budget, retried a bounded
//! number of times, and never changes a domain's status or the exit code: each channel's outcome is
//! data in the result.

pub mod config;
pub mod digest;
pub mod smn;
pub mod sns;
pub mod webhook;

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::aws::config::AwsConfig;
use crate::clock::SharedClock;
use crate::error::ErrorCode;
use crate::huawei::credential::Credentials;

use crate::result::{DeployResult, ErrorInfo, NotificationOutcome, RunMode};
use crate::transport as wire;

pub use config::{NotifyConfig, NotifyOn};
use digest::{Measure, Style};

/// Tries per channel.
const MAX_ATTEMPTS: u32 = 3;
/// One try's limit (a chat tool answers in well under a second).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Less than this left: no further try.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);
/// The pause before a second try; doubled before a third.
const BACKOFF: Duration = Duration::from_millis(400);

/// A request ready to send.
#[derive(Clone)]
pub struct Outgoing {
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A channel that did not take the message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: ErrorInfo,
    pub retryable: bool,
}

impl Failure {
    /// Something of ours is missing (keys, an endpoint): trying again will not help.
    pub fn setup(message: impl Into<String>) -> Self {
        Self {
            error: ErrorInfo::new(ErrorCode::InvalidRequest, message),
            retryable: false,
        }
    }

    /// The service answered and refused: its code when it gave one.
    pub fn answer(
        status: u16,
        code: &str,
        message: &str,
        request_id: Option<String>,
        throttled: bool,
    ) -> Self {
        let retryable = throttled || status == 429 || status >= 500;
        let code = match (code.is_empty(), status) {
            (false, _) => ErrorCode::Other(crate::redact::upstream(code)),
            (true, 401 | 403) => ErrorCode::AuthFailed,
            (true, 429) => ErrorCode::Throttled,
            (true, s) if s >= 500 => ErrorCode::UpstreamUnavailable,
            (true, _) => ErrorCode::Rejected,
        };
        let mut message = crate::redact::upstream(message);
        if let Some(id) = request_id {
            message = format!("{message} (request {id})").trim_start().to_string();
        }
        let mut error = ErrorInfo::new(code, message).with_retryable(retryable);
        error.http_status = Some(status);
        Self { error, retryable }
    }
}

/// Whether a run with `result` sends its digest under `on`.
pub fn due(on: NotifyOn, result: &DeployResult) -> bool {
    let problems = digest::has_problems(result);
    match (on, result.mode) {
        (NotifyOn::Always, _) => true,
        // A dry run changes nothing and proves little: it is told only when asked always.
        (_, RunMode::DryRun) => false,
        (NotifyOn::Problems, _) => problems,
        (NotifyOn::Changes, _) => problems || result.summary.deployed > 0,
    }
}

/// What delivery needs besides the result.
pub struct Channels<'a> {
    pub config: &'a NotifyConfig,
    pub aws: &'a AwsConfig,
    /// The run's Huawei keys (the environment's, or the FunctionGraph agency's), for SMN.
    pub huawei: Option<&'a Credentials>,
    pub clock: SharedClock,
}

/// One configured channel, with what it sends.
enum Target<'a> {
    Sns {
        topic: &'a config::SnsTopic,
        /// The endpoint's host, for logs (the topic's regional one, or an override).
        host: String,
        subject: String,
        message: String,
    },
    Smn {
        topic: &'a config::SmnTopic,
        subject: String,
        message: String,
    },
    Webhook(&'a config::Webhook),
}

impl Target<'_> {
    fn name(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Target::Sns { .. } => ("sns", None),
            Target::Smn { .. } => ("smn", None),
            Target::Webhook(h) => ("webhook", Some(h.format.name())),
        }
    }

    /// The host a log line may name (never a webhook's path or query: they hold its token).
    fn host(&self) -> &str {
        match self {
            Target::Sns { host, .. } => host,
            Target::Smn { topic, .. } => topic.endpoint.host(),
            Target::Webhook(h) => h.url.host(),
        }
    }

    /// The request of one try, signed afresh.
    fn build(
        &self,
        ch: &Channels<'_>,
        digest: &digest::Digest,
        whole: &Whole<'_>,
    ) -> Result<Outgoing, Failure> {
        let now = ch.clock.unix_now();
        match self {
            Target::Sns {
                topic,
                subject,
                message,
                ..
            } => sns::request(topic, ch.aws, subject, message, now),
            Target::Smn {
                topic,
                subject,
                message,
            } => smn::request(topic, ch.huawei, subject, message, now),
            Target::Webhook(hook) => Ok(webhook::request(hook, digest, whole, now)),
        }
    }

    fn judge(&self, reply: &wire::Reply) -> Result<Option<String>, Failure> {
        match self {
            Target::Sns { .. } => sns::judge(reply),
            Target::Smn { .. } => smn::judge(reply),
            Target::Webhook(h) => webhook::judge(h.format, reply),
        }
    }
}

/// The configured channels, in the order outcomes are listed.
fn targets<'a>(c: &'a NotifyConfig, aws: &AwsConfig, digest: &digest::Digest) -> Vec<Target<'a>> {
    let mut v = Vec::new();
    if let Some(topic) = &c.sns {
        let host = aws
            .endpoint_in(crate::aws::Service::Sns, &topic.region)
            .map(|e| e.endpoint.host().to_string())
            .unwrap_or_default();
        v.push(Target::Sns {
            topic,
            host,
            subject: sns::subject(&digest.subject),
            message: digest.render(Style::Plain, false, sns::MESSAGE_BYTES, Measure::Bytes),
        });
    }
    if let Some(topic) = &c.smn {
        v.push(Target::Smn {
            topic,
            subject: cut_bytes(&digest.subject, smn::SUBJECT_BYTES),
            message: digest.render(Style::Plain, false, smn::MESSAGE_BYTES, Measure::JsonString),
        });
    }
    if let Some(h) = &c.webhook {
        v.push(Target::Webhook(h));
    }
    v
}

/// Sends the digest of `result` to every configured channel at once, each retried until
/// `deadline`; one outcome per channel.
pub async fn deliver(
    ch: &Channels<'_>,
    result: &DeployResult,
    deadline: Instant,
) -> Vec<NotificationOutcome> {
    let whole = || serde_json::to_value(result).unwrap_or(Value::Null);
    send(ch, &digest::digest(result), &whole, deadline).await
}

/// The whole answer a JSON webhook receives, made only for one (a result may hold 20 000
/// domains).
pub type Whole<'a> = dyn Fn() -> Value + Sync + 'a;

/// Sends `digest` to every configured channel at once, each retried until `deadline`; one
/// outcome per channel.
pub async fn send(
    ch: &Channels<'_>,
    digest: &digest::Digest,
    whole: &Whole<'_>,
    deadline: Instant,
) -> Vec<NotificationOutcome> {
    let targets = targets(ch.config, ch.aws, digest);
    let http = match wire::client() {
        Ok(h) => h,
        Err(e) => {
            let error = ErrorInfo::new(ErrorCode::UpstreamUnavailable, e.to_string());
            return targets
                .iter()
                .map(|t| outcome(t, 0, Err(error.clone())))
                .collect();
        }
    };
    let tries = targets
        .iter()
        .map(|t| attempt_all(ch, &http, t, digest, whole, deadline));
    futures_util::future::join_all(tries).await
}

fn outcome(
    target: &Target<'_>,
    attempts: u32,
    sent: Result<Option<String>, ErrorInfo>,
) -> NotificationOutcome {
    let (channel, format) = target.name();
    let (ok, message_id, error) = match sent {
        Ok(id) => (true, id, None),
        Err(e) => (false, None, Some(e)),
    };
    NotificationOutcome {
        channel: channel.into(),
        format: format.map(str::to_string),
        ok,
        attempts,
        message_id,
        error,
    }
}

/// Tries one channel up to [`MAX_ATTEMPTS`] times while the deadline allows.
async fn attempt_all(
    ch: &Channels<'_>,
    http: &reqwest::Client,
    target: &Target<'_>,
    digest: &digest::Digest,
    whole: &Whole<'_>,
    deadline: Instant,
) -> NotificationOutcome {
    let (channel, format) = target.name();
    let host = target.host();
    let mut attempts = 0;
    let mut last: Option<Failure> = None;
    while attempts < MAX_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < MIN_ATTEMPT {
            break;
        }
        attempts += 1;
        let sent = match target.build(ch, digest, whole) {
            Err(f) => Err(f),
            Ok(out) => {
                let timeout = left.min(ATTEMPT_TIMEOUT);
                let method = Method::POST;
                match wire::send(http, method, out.url, &out.headers, out.body, timeout).await {
                    Ok(reply) => target.judge(&reply),
                    Err(e) => Err(Failure {
                        retryable: true,
                        error: ErrorInfo::new(ErrorCode::UpstreamUnavailable, e.to_string()),
                    }),
                }
            }
        };
        match sent {
            Ok(message_id) => {
                info!(channel, format, host, attempts, "notification sent");
                return outcome(target, attempts, Ok(message_id));
            }
            Err(f) => {
                let retry = f.retryable;
                warn!(channel, format, host, attempt = attempts, code = %f.error.code,
                      error = %f.error.message, retry, "notification not taken");
                last = Some(f);
                if !retry {
                    break;
                }
                let pause = BACKOFF * attempts;
                if Instant::now() + pause + MIN_ATTEMPT >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
    let error = last.map(|f| f.error).unwrap_or_else(|| {
        ErrorInfo::new(
            ErrorCode::BudgetExhausted,
            "no time was left in the budget to send the notification",
        )
    });
    outcome(target, attempts, Err(error))
}

/// At most `max` bytes of `s`, on a character boundary.
fn cut_bytes(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{DomainResult, Status};

    fn result(statuses: &[Status], mode: RunMode, expiring: bool) -> DeployResult {
        let domains = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut d = DomainResult::skipped(
                    &format!("d{i}.example.com"),
                    ErrorInfo::upstream("x", "x", false),
                );
                d.status = *s;
                d.expiring = expiring;
                d
            })
            .collect();
        DeployResult::new(domains, mode, None, 1, 1, None)
    }

    #[test]
    fn when_a_run_is_told() {
        use NotifyOn::*;
        use Status::*;
        let quiet = result(&[Unchanged, Unchanged], RunMode::Deploy, false);
        let changed = result(&[Deployed, Unchanged], RunMode::Deploy, false);
        let failed = result(&[Deployed, Failed], RunMode::Deploy, false);
        let expiring = result(&[Unchanged], RunMode::Deploy, true);
        let dry = result(&[Planned, Failed], RunMode::DryRun, false);
        let table = [
            (&quiet, [false, false, true]),
            (&changed, [false, true, true]),
            (&failed, [true, true, true]),
            (&expiring, [true, true, true]),
            (&dry, [false, false, true]),
        ];
        for (r, expected) in table {
            let got = [due(Problems, r), due(Changes, r), due(Always, r)];
            assert_eq!(got, expected, "{:?}", r.summary);
        }
    }

    #[test]
    fn failures_classify_by_status_when_the_service_gives_no_code() {
        let f = Failure::answer(503, "", "busy", None, false);
        assert_eq!(
            (f.error.code.as_str(), f.retryable),
            ("upstream_unavailable", true)
        );
        let f = Failure::answer(403, "", "", Some("r1".into()), false);
        assert_eq!((f.error.code.as_str(), f.retryable), ("auth_failed", false));
        assert_eq!(f.error.message, "(request r1)");
        assert_eq!(cut_bytes("aé", 2), "a");
    }
}
