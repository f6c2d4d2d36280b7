//! Structured logs on stderr: JSON (`LOG_FORMAT=json`, the default inside a platform runtime) or
//! text. The HTTP stack's own debug output is held at `info` whatever `RUST_LOG` says, so no
//! header or body can reach a log line.

use tracing_subscriber::EnvFilter;

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

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for quiet in [
        "hyper=info",
        "hyper_util=info",
        "reqwest=info",
        "rustls=info",
        "h2=info",
    ] {
        filter = filter.add_directive(quiet.parse().expect("static directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
