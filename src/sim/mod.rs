//! A Huawei Cloud CDN simulator speaking the API over HTTP on loopback: it checks every
//! signature with the gateway's rules, keeps per-domain state (`configuring` for a while, then
//! `online` or `configure_failed`), applies the real PUT semantics (the https block resets what it
//! omits), enforces the quotas (with a time scale) and injects faults. Tests start it on port 0;
//! `cdn-sim` serves it for `make demo`.
//!
//! On the same port it also serves the two services certificates are read from: CSMS
//! ShowSecretVersion ([`csms`], signed like the CDN calls) and OBS GetObject ([`obs`], the OBS
//! header signature); Certificate Manager ShowCertificate ([`scm`], signed like the CDN calls),
//! which describes an SCM certificate's names; and SMN PublishMessage ([`smn`]) for
//! notifications. Their calls are counted apart (`SimStats::csms_calls`, `scm_calls`,
//! `obs_calls`, `service_calls`), never in the CDN statistics. The layers: [`config`] says
//! what the account holds, `server` routes,
//! `gateway` checks signatures and shapes answers, `services` answers CSMS, SCM, SMN and OBS
//! calls, [`state`] holds the account, `csms`, `scm`, `obs` and `smn` hold the services'
//! stores and rules, and [`dns`] answers each domain's CNAME over UDP.

pub mod config;
pub mod csms;
pub mod dns;
mod gateway;
pub mod obs;
pub mod scm;
mod server;
mod services;
pub mod smn;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{
    Drift, ErrorStyle, Fault, FaultKind, Outcome, SimConfig, SimCredential, SimDomainConfig,
    SimObject, SimScmCertificate, SimSecret, TlsIn, DEFAULT_PROJECT_ID,
};
pub use state::{
    DomainSnapshot, Served, ServiceCall, SettingChange, SimStats, WriteAnswer, WriteRecord,
};

use crate::clock::{Clock, SystemClock};
use gateway::Shared;

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    dns: JoinHandle<()>,
}

impl Simulator {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Self> {
        Self::bind(cfg, server::loopback(0)).await
    }

    /// Starts on `addr`.
    pub async fn bind(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let state = state::SimState::new(&cfg, Instant::now(), SystemClock.unix_now())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            credentials: cfg.credentials.clone(),
        });
        let task = tokio::spawn(server::serve(listener, shared.clone()));
        // DNS on the same port, over UDP.
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        let dns = tokio::spawn(dns::serve(socket, Arc::new(dns::answers(&cfg.domains))));
        Ok(Self {
            addr,
            shared,
            task,
            dns,
        })
    }

    /// The endpoint to give the client: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The simulator's DNS (`ip:port`, UDP), for `DEPLOY_DNS_SERVER`.
    pub fn dns_server(&self) -> String {
        self.addr.to_string()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// A domain as it is now.
    pub fn domain(&self, name: &str) -> Option<DomainSnapshot> {
        self.lock().snapshot(name, Instant::now())
    }

    /// The project id CSMS paths must carry.
    pub fn project_id(&self) -> String {
        self.lock().secrets.project_id().to_string()
    }

    /// Adds a version of CSMS secret `name` holding `value` (it becomes the latest,
    /// `SYSCURRENT`), creating the secret if new.
    pub fn put_secret(&self, name: &str, value: &str) {
        self.lock().secrets.put(name, value, SystemClock.unix_now());
    }

    /// Adds (or replaces) a Certificate Manager certificate, served by ShowCertificate (and
    /// from then on the only ids a CDN write may name, with the others configured).
    pub fn put_scm_certificate(&self, certificate: SimScmCertificate) {
        self.lock().scm.put(certificate);
    }

    /// Stores (or replaces) OBS object `key` (decoded, `certs/site.pem`) in `bucket`, creating
    /// the bucket if new.
    pub fn put_object(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        self.lock()
            .objects
            .put(bucket, key, body.into(), false, SystemClock.unix_now());
    }

    /// The SMN messages published so far.
    pub fn smn_messages(&self) -> Vec<serde_json::Value> {
        self.lock().received.smn.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, state::SimState> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
        self.dns.abort();
    }
}
