//! `cdn-cert-deploy`: picks the platform shell from the environment and runs it.

use cdn_cert_deploy::runtime::cli::{self, Cli, Command};
use cdn_cert_deploy::runtime::logging::{self, LogFormat};
use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    logging::init(LogFormat::from_env(LogFormat::Text));
    let code = match cli.command {
        Command::Invoke {
            event,
            budget,
            endpoint,
        } => cli::invoke(event, budget, endpoint).await,
    };
    std::process::exit(code);
}
