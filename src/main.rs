//! `cdn-cert-deploy`: picks the platform shell from the environment and runs it.

use cdn_cert_deploy::app::App;
use cdn_cert_deploy::config::Config;
use cdn_cert_deploy::event::Platform;
use cdn_cert_deploy::runtime::cli::{self, Command};
use cdn_cert_deploy::runtime::logging::{self, LogFormat};
use cdn_cert_deploy::runtime::{functiongraph, lambda};

#[tokio::main]
async fn main() {
    // A runtime starts `bootstrap` with no arguments; any argument means the command line.
    let runtime = std::env::args_os().len() == 1;
    if runtime && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        logging::init(LogFormat::from_env(LogFormat::Json));
        let app = App::from_config(Config::from_process_env(), Platform::Lambda);
        if let Err(e) = lambda::run(app).await {
            tracing::error!(error = %e, "the Lambda runtime loop ended");
            std::process::exit(1);
        }
        return;
    }
    if runtime {
        if let Ok(addr) = std::env::var("RUNTIME_API_ADDR") {
            logging::init(LogFormat::from_env(LogFormat::Json));
            let app = App::from_config(Config::from_process_env(), Platform::FunctionGraph);
            functiongraph::run(app, addr).await;
            return;
        }
    }
    // Help and version exit 0, a wrong command line 2 (an invalid request), clap printing either.
    let command = cli::parse_args(std::env::args_os().skip(1)).unwrap_or_else(|e| e.exit());
    logging::init(LogFormat::from_env(LogFormat::Text));
    let code = match command {
        Command::Invoke {
            event,
            budget,
            endpoint,
        } => cli::invoke(event, budget, endpoint).await,
        Command::Doctor {
            event,
            budget,
            endpoint,
            all,
            text,
        } => cli::doctor(event, budget, endpoint, cli::DoctorArgs { all, text }).await,
    };
    std::process::exit(code);
}
