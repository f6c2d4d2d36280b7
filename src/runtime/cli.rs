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
use crate::clock;
use crate::config::Config;
use crate::deploy::EngineConfig;
use crate::doctor::{text, Report};
use crate::error::ErrorCode;
use crate::event::Platform;
use crate::handler::{Handler, EXIT_INVALID};
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
    /// Print the usage (`-h`, `--help`).
    Help,
    /// Print the version (`-V`, `--version`).
    Version,
}

/// The usage `--help` prints and a wrong command line is answered with.
pub const USAGE: &str = "\
Deploys TLS certificates to Huawei Cloud CDN domains and reports the truth about every domain.

Usage: cdn-cert-deploy invoke --event FILE [--budget SECS] [--endpoint URL]
       cdn-cert-deploy doctor --event FILE [--all] [--format json|text] [--budget SECS] [--endpoint URL]

Commands:
  invoke  Run the handler once on an event and print its JSON answer
  doctor  Check the keys, the certificate and every domain, writing nothing, and print a report

Options:
      --event FILE       The event file (`-` for standard input); for doctor, a request whose
                         certificate may be left out
      --budget SECS      The time budget in seconds, as a platform deadline would give it [default: 900]
      --endpoint URL     The CDN API endpoint (overrides HUAWEICLOUD_CDN_ENDPOINT)
      --all              doctor: every domain of the account
      --format FORMAT    doctor: `json` (default) or `text`
  -h, --help             Print help
  -V, --version          Print version

Started with no arguments inside AWS Lambda (AWS_LAMBDA_RUNTIME_API) or a FunctionGraph custom
runtime (RUNTIME_API_ADDR), it serves the platform's runtime API instead.
";

/// Reads the command line (without the program name). Written out rather than taken from a
/// parser crate: three options cost less than a quarter MB of binary this way.
pub fn parse_args<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into()
                .into_string()
                .map_err(|a| format!("argument {a:?} is not UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    let mut it = args.iter().map(String::as_str);
    let doctor = match it.next() {
        None => return Err("a command is required: invoke or doctor".into()),
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("-V" | "--version") => return Ok(Command::Version),
        Some("invoke") => false,
        Some("doctor") => true,
        Some(other) => {
            return Err(format!(
                "unknown command `{other}` (the commands are invoke and doctor)"
            ))
        }
    };
    let (mut event, mut budget, mut endpoint) = (None, 900u64, None);
    let (mut all, mut text) = (false, false);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg, None),
        };
        if matches!(name, "-h" | "--help") {
            return Ok(Command::Help);
        }
        let mut value = |what: &str| {
            inline
                .or_else(|| it.next())
                .map(str::to_string)
                .ok_or_else(|| format!("{name} needs a value ({what})"))
        };
        match name {
            "--event" => event = Some(PathBuf::from(value("FILE")?)),
            "--budget" => {
                let v = value("SECS")?;
                budget = v
                    .parse()
                    .map_err(|_| format!("--budget: `{v}` is not a number of seconds"))?;
            }
            "--endpoint" => endpoint = Some(value("URL")?),
            "--all" if doctor => all = true,
            "--format" if doctor => {
                text = match value("json or text")?.as_str() {
                    "json" => false,
                    "text" => true,
                    v => return Err(format!("--format: `{v}` is neither json nor text")),
                }
            }
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let event = event.ok_or("--event FILE is required")?;
    Ok(match doctor {
        true => Command::Doctor {
            event,
            budget,
            endpoint,
            all,
            text,
        },
        false => Command::Invoke {
            event,
            budget,
            endpoint,
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
        function_name: function_name(|k| std::env::var(k).ok()),
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
            parse_args(["invoke", "--event", "e.json"]),
            Ok(invoke("e.json", 900, None))
        );
        assert_eq!(
            parse_args([
                "invoke",
                "--budget=30",
                "--event",
                "-",
                "--endpoint",
                "http://127.0.0.1:9"
            ]),
            Ok(invoke("-", 30, Some("http://127.0.0.1:9")))
        );
        assert_eq!(
            parse_args(["doctor", "--event", "r.json", "--all", "--format", "text"]),
            Ok(Command::Doctor {
                event: PathBuf::from("r.json"),
                budget: 900,
                endpoint: None,
                all: true,
                text: true
            })
        );
        assert!(parse_args(["doctor", "--event", "r", "--format", "yaml"])
            .unwrap_err()
            .contains("neither json nor text"));
        assert!(parse_args(["invoke", "--event", "r", "--all"])
            .unwrap_err()
            .contains("unexpected argument `--all`"));
        assert_eq!(parse_args(["--help"]), Ok(Command::Help));
        assert_eq!(parse_args(["invoke", "-h"]), Ok(Command::Help));
        assert_eq!(parse_args(["-V"]), Ok(Command::Version));
        for (args, says) in [
            (vec![], "a command is required"),
            (vec!["deploy"], "unknown command `deploy`"),
            (vec!["invoke"], "--event FILE is required"),
            (vec!["invoke", "--event"], "--event needs a value"),
            (
                vec!["invoke", "--event", "e", "--budget", "soon"],
                "`soon` is not a number",
            ),
            (
                vec!["invoke", "--event", "e", "--evnet", "x"],
                "unexpected argument `--evnet`",
            ),
        ] {
            let e = parse_args(args.clone()).unwrap_err();
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }
}
