//! The shell entry point: `cdn-cert-deploy invoke --event FILE` runs the handler once on any
//! accepted event (a request, an API Gateway event, a schedule…) and prints its JSON answer on
//! stdout; the exit code tells how it went (0 ok, 1 not every domain, 2 invalid).
//! `cdn-cert-deploy doctor --event FILE` runs a read-only doctor on a request instead (0 no
//! check failed, 1 some did, 2 invalid), as JSON or, with `--format text`, for a person.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::app::{App, Context};
use crate::config::Config;
use crate::doctor::{text, Report};
use crate::error::ErrorCode;
use crate::event::Platform;
use crate::handler::EXIT_INVALID;
use crate::huawei::cdn::Endpoint;
use crate::result::{DeployResult, ErrorInfo, RunMode};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the handler once on an event and print its JSON answer.
    Invoke {
        /// The event file (`-` for standard input).
        event: PathBuf,
        /// The time budget in seconds, as a platform deadline would give it.
        budget: u64,
        /// The CDN API endpoint (overrides HUAWEICLOUD_CDN_ENDPOINT).
        endpoint: Option<String>,
    },
    /// Run a read-only doctor on a request and print its report.
    Doctor {
        /// The request file (`-` for standard input); its certificate may be left out.
        event: PathBuf,
        budget: u64,
        endpoint: Option<String>,
        /// Every domain of the account.
        all: bool,
        /// The report as text for a person rather than JSON.
        text: bool,
    },
}

/// The command line as clap reads it (derive); [`parse_args`] turns it into a [`Command`].
#[derive(Debug, clap::Parser)]
#[command(
    name = "cdn-cert-deploy",
    version,
    about = "Deploys TLS certificates to Huawei Cloud CDN domains and reports the truth about every domain.",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

const AFTER_HELP: &str =
    "Started with no arguments inside AWS Lambda (AWS_LAMBDA_RUNTIME_API) or a \
FunctionGraph custom runtime (RUNTIME_API_ADDR), it serves the platform's runtime API instead.";

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Run the handler once on an event and print its JSON answer
    Invoke(Common),
    /// Check the keys, the certificate and every domain, writing nothing, and print a report
    Doctor {
        #[command(flatten)]
        common: Common,
        /// Every domain of the account
        #[arg(long)]
        all: bool,
        /// The report as JSON, or as text for a person
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// The event file (`-` for standard input); for doctor, a request whose certificate may be
    /// left out
    #[arg(long, value_name = "FILE")]
    event: PathBuf,
    /// The time budget in seconds, as a platform deadline would give it
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    budget: u64,
    /// The CDN API endpoint (overrides HUAWEICLOUD_CDN_ENDPOINT)
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Json,
    Text,
}

/// Reads the command line (without the program name). `Err` is clap's: printed by
/// [`clap::Error::exit`], it is the help or the version (exit 0) or what is wrong with the usage
/// under it (exit 2, as an invalid request).
pub fn parse_args<I, S>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    let argv = std::iter::once(std::ffi::OsString::from("cdn-cert-deploy"))
        .chain(args.into_iter().map(Into::into));
    Ok(match Cli::try_parse_from(argv)?.verb {
        Verb::Invoke(c) => Command::Invoke {
            event: c.event,
            budget: c.budget,
            endpoint: c.endpoint,
        },
        Verb::Doctor {
            common: c,
            all,
            format,
        } => Command::Doctor {
            event: c.event,
            budget: c.budget,
            endpoint: c.endpoint,
            all,
            text: format == Format::Text,
        },
    })
}

/// Runs `invoke` and returns the process exit code.
pub async fn invoke(event: PathBuf, budget: u64, endpoint: Option<String>) -> i32 {
    run_event(event, budget, endpoint, None).await
}

/// How `doctor` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct DoctorArgs {
    pub all: bool,
    pub text: bool,
}

/// Runs `doctor` and returns the process exit code.
pub async fn doctor(
    event: PathBuf,
    budget: u64,
    endpoint: Option<String>,
    args: DoctorArgs,
) -> i32 {
    run_event(event, budget, endpoint, Some(args)).await
}

async fn run_event(
    event: PathBuf,
    budget: u64,
    endpoint: Option<String>,
    doctor: Option<DoctorArgs>,
) -> i32 {
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
    let mut event = match read_event(&event) {
        Ok(v) => v,
        Err(message) => {
            return print_error(
                ErrorInfo::new(ErrorCode::InvalidRequest, message).with_field("event"),
            )
        }
    };
    if let (Some(args), Some(o)) = (doctor, event.as_object_mut()) {
        o.insert("action".into(), "doctor".into());
        if args.all {
            o.insert("all".into(), true.into());
        }
    }
    let reply = App::from_config(config, Platform::Cli)
        .invoke(
            event,
            Context {
                platform_budget: Duration::from_secs(budget.max(1)),
                received,
                credentials: None,
            },
        )
        .await;
    let report = doctor
        .filter(|a| a.text)
        .and_then(|_| serde_json::from_value::<Report>(reply.body.clone()).ok());
    match report {
        Some(r) => print!("{}", text::render(&r)),
        None => print_json(&reply.body),
    }
    // Standard output holds the result: the metrics record goes with the logs.
    if let Some(record) = &reply.metrics {
        eprintln!("{record}");
    }
    reply.exit_code
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

#[cfg(test)]
mod args_tests {
    use super::*;

    fn invoke(event: &str, budget: u64, endpoint: Option<&str>) -> Command {
        Command::Invoke {
            event: PathBuf::from(event),
            budget,
            endpoint: endpoint.map(str::to_string),
        }
    }

    #[test]
    fn the_command_line() {
        assert_eq!(
            parse_args(["invoke", "--event", "e.json"]).unwrap(),
            invoke("e.json", 900, None)
        );
        assert_eq!(
            parse_args([
                "invoke",
                "--budget=30",
                "--event",
                "-",
                "--endpoint",
                "http://127.0.0.1:9"
            ])
            .unwrap(),
            invoke("-", 30, Some("http://127.0.0.1:9"))
        );
        assert_eq!(
            parse_args(["doctor", "--event", "r.json", "--all", "--format", "text"]).unwrap(),
            Command::Doctor {
                event: PathBuf::from("r.json"),
                budget: 900,
                endpoint: None,
                all: true,
                text: true
            }
        );
        let kind = |args: &[&str]| parse_args(args).unwrap_err().kind();
        use clap::error::ErrorKind;
        assert_eq!(kind(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(kind(&["invoke", "-h"]), ErrorKind::DisplayHelp);
        assert_eq!(kind(&["-V"]), ErrorKind::DisplayVersion);
        for (args, says) in [
            (vec![], "Usage: cdn-cert-deploy <COMMAND>"),
            (vec!["deploy"], "unrecognized subcommand 'deploy'"),
            (vec!["invoke"], "--event <FILE>"),
            (
                vec!["invoke", "--event"],
                "a value is required for '--event <FILE>'",
            ),
            (
                vec!["invoke", "--event", "e", "--budget", "soon"],
                "invalid value 'soon' for '--budget <SECS>'",
            ),
            (
                vec!["invoke", "--event", "e", "--evnet", "x"],
                "unexpected argument '--evnet'",
            ),
            (
                vec!["doctor", "--event", "r", "--format", "yaml"],
                "invalid value 'yaml' for '--format <FORMAT>'",
            ),
            (
                vec!["invoke", "--event", "r", "--all"],
                "unexpected argument '--all'",
            ),
        ] {
            let e = parse_args(args.clone()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let e = e.render().to_string();
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }
}
