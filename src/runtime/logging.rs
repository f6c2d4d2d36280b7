//! Structured logs on stderr: JSON (`LOG_FORMAT=json`, the default inside a platform runtime) or
//! text. The HTTP stack's and the Lambda runtime's own debug output is held at `info` whatever
//! `RUST_LOG` says, so no header, body or event can reach a log line (lambda_runtime traces every
//! raw event, private keys and signatures included).
//!
//! `RUST_LOG` is read as `Targets` (`info`, `warn,cdn_cert_deploy=debug`): the usual directives
//! without the span and field filters, which would need a regex engine (a quarter MB of binary).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Crates whose own output is held at `info` at most: their debug lines may carry headers, and
/// lambda_runtime's trace lines the whole event.
const QUIET: [&str; 7] = [
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "h2",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// The filter `RUST_LOG` asks for (`info` when unset or unreadable), with `QUIET` held at
/// `info` at most.
pub fn filter(rust_log: Option<&str>) -> Targets {
    let asked: Targets = rust_log
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let quiet = |t: &str| {
        QUIET
            .iter()
            .any(|q| t == *q || t.starts_with(&format!("{q}::")))
    };
    let mut filter = Targets::new();
    if let Some(level) = asked.default_level() {
        filter = filter.with_default(level);
    }
    for (target, level) in asked.iter().filter(|(t, _)| !quiet(t)) {
        filter = filter.with_target(target, level);
    }
    for q in QUIET {
        let level = asked
            .iter()
            .find(|(t, _)| *t == q)
            .map(|(_, l)| l)
            .or(asked.default_level())
            .unwrap_or(LevelFilter::OFF);
        filter = filter.with_target(q, level.min(LevelFilter::INFO));
    }
    filter
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// `LOG_FORMAT` if set to `json` or `text`, else `default`.
    pub fn from_env(default: LogFormat) -> Self {
        match std::env::var("LOG_FORMAT").ok().as_deref().map(str::trim) {
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            _ => default,
        }
    }
}

/// Writes a run's metrics record (CloudWatch Embedded Metric Format) as one line on standard
/// output, where Lambda (and FunctionGraph, into LTS) take it as it is: the log lines go to
/// standard error through the subscriber, whose fields would nest the record in a message.
pub fn write_metrics(record: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{record}");
    let _ = out.flush();
}

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(format: LogFormat) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(layer.with_ansi(false)).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(f: &Targets, target: &str, level: Level) -> bool {
        f.would_enable(target, &level)
    }

    #[test]
    fn rust_log_with_the_http_stack_held_at_info() {
        let f = filter(None);
        assert!(enabled(&f, "cdn_cert_deploy::deploy", Level::INFO));
        assert!(!enabled(&f, "cdn_cert_deploy::deploy", Level::DEBUG));
        let f = filter(Some("trace"));
        assert!(enabled(&f, "cdn_cert_deploy", Level::TRACE));
        assert!(enabled(&f, "hyper::proto", Level::INFO));
        assert!(!enabled(&f, "hyper::proto", Level::DEBUG), "held at info");
        assert!(!enabled(&f, "reqwest::connect", Level::TRACE));
        assert!(
            !enabled(&f, "lambda_runtime::layers::api_response", Level::TRACE),
            "the raw event"
        );
        let f = filter(Some("warn,reqwest=trace,cdn_cert_deploy::deploy=debug"));
        assert!(!enabled(&f, "reqwest", Level::DEBUG));
        assert!(enabled(&f, "cdn_cert_deploy::deploy::domain", Level::DEBUG));
        assert!(!enabled(&f, "cdn_cert_deploy::handler", Level::INFO));
        assert!(
            !enabled(&f, "hyper", Level::INFO),
            "warn asked: quieter stays quieter"
        );
        // Unreadable: info.
        let f = filter(Some("[span{x=1}]=???"));
        assert!(enabled(&f, "cdn_cert_deploy", Level::INFO));
    }
}
