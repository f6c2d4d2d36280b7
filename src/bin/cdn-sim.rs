//! `cdn-sim`: serves the Huawei CDN simulator on loopback until killed.
//!
//! `cdn-sim --config events/sim-demo.json [--port 0] [--addr-file FILE]`

use std::path::PathBuf;

use cdn_cert_deploy::runtime::logging::{self, LogFormat};
use cdn_cert_deploy::sim::{SimConfig, Simulator};
use clap::Parser;

/// Serves the Huawei CDN simulator on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "cdn-sim", version)]
struct Args {
    /// The simulator configuration (JSON: credentials, domains, quotas, faults).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write the endpoint URL to this file once listening.
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    logging::init(LogFormat::from_env(LogFormat::Text));
    let text = std::fs::read_to_string(&args.config).unwrap_or_else(|e| {
        eprintln!("cdn-sim: cannot read {}: {e}", args.config.display());
        std::process::exit(2)
    });
    let cfg: SimConfig = serde_json::from_str(&text).unwrap_or_else(|e| {
        eprintln!("cdn-sim: {}: {e}", args.config.display());
        std::process::exit(2)
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let sim = Simulator::bind(cfg, addr).await.unwrap_or_else(|e| {
        eprintln!("cdn-sim: cannot start: {e}");
        std::process::exit(2)
    });
    if let Some(f) = &args.addr_file {
        let tmp = f.with_extension("tmp");
        if std::fs::write(&tmp, sim.endpoint())
            .and_then(|_| std::fs::rename(&tmp, f))
            .is_err()
        {
            eprintln!("cdn-sim: cannot write {}", f.display());
            std::process::exit(2)
        }
    }
    println!("cdn-sim listening on {}", sim.endpoint());
    std::future::pending::<()>().await;
}
