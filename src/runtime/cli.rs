//! The shell entry point: `cdn-cert-deploy invoke --event FILE` runs the handler once on any
//! accepted event (a request, an API Gateway event, a schedule…) and prints its JSON answer on
//! stdout; the exit code tells how it went (0 ok, 1 not every domain, 2 invalid).

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::app::{App, Context};
use crate::clock;
use crate::config::Config;
use crate::deploy::EngineConfig;
use crate::event::Platform;
use crate::handler::{Handler, EXIT_INVALID};
use crate::huawei::cdn::Endpoint;
use crate::result::{DeployResult, ErrorInfo, RunMode};

/// Deploys TLS certificates to Huawei Cloud CDN domains and reports the truth about every domain.
#[derive(Debug, Parser)]
#[command(name = "cdn-cert-deploy", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the handler once on an event and print its JSON answer.
    Invoke {
        /// The event file (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// The time budget in seconds, as a platform deadline would give it.
        #[arg(long, value_name = "SECS", default_value_t = 900)]
        budget: u64,
        /// The CDN API endpoint (overrides HUAWEICLOUD_CDN_ENDPOINT).
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
}

/// Runs `invoke` and returns the process exit code.
pub async fn invoke(event: PathBuf, budget: u64, endpoint: Option<String>) -> i32 {
    let received = tokio::time::Instant::now();
    let config = Config::from_process_env().and_then(|mut c| {
        if let Some(e) = endpoint {
            c.endpoint = Endpoint::parse(&e).map_err(|err| crate::config::ConfigError {
                variable: "--endpoint".into(),
                message: err.to_string(),
            })?;
        }
        Ok(c)
    });
    let event = match read_event(&event) {
        Ok(v) => v,
        Err(message) => {
            return print_error(
                ErrorInfo::new("invalid_request", message, false).with_field("event"),
            )
        }
    };
    let reply = app(config, Platform::Cli)
        .invoke(
            event,
            Context {
                platform_budget: Duration::from_secs(budget.max(1)),
                received,
                credentials: None,
            },
        )
        .await;
    print_json(&reply.body);
    reply.exit_code
}

/// The application for this process's configuration.
pub fn app(config: Result<Config, crate::config::ConfigError>, platform: Platform) -> App {
    App {
        handler: config.map(|config| Handler {
            engine: EngineConfig {
                concurrency: config
                    .concurrency
                    .unwrap_or(EngineConfig::default().concurrency),
                ..EngineConfig::default()
            },
            config,
            clock: clock::system(),
        }),
        platform,
    }
}

fn read_event(path: &PathBuf) -> Result<Value, String> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("cannot read the event from stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| format!("the event is not valid JSON: {e}"))
}

fn print_error(error: ErrorInfo) -> i32 {
    tracing::error!(error = %error.message, "invalid invocation");
    let result = DeployResult::new(Vec::new(), RunMode::Deploy, None, 0, 0, Some(error));
    print_json(&serde_json::to_value(&result).unwrap_or(Value::Null));
    EXIT_INVALID
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into())
    );
}
