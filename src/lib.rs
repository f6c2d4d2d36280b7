//! cdn-cert-deploy: puts a TLS certificate on Huawei Cloud CDN domains and reports, per domain,
//! what really happened.
//!
//! # Layout
//!
//! A functional core and thin shells:
//!
//! - [`request`]: the deploy request: strict parsing, defaults, validation (pure).
//! - [`cert`]: PEM chains and keys, key match, expiry, SAN coverage, fingerprints (pure).
//! - [`trust`]: the chain builds to a trusted root (public web roots or `DEPLOY_TRUST_ROOTS`),
//!   serves TLS, has strong keys; and its order as the CDN should serve it (pure).
//! - [`deploy`]: per-domain decisions ([`deploy::decide`], pure) and the async driver
//!   ([`deploy::engine`]) that runs every domain within the time budget.
//! - [`doctor`]: the read-only preflight: what an account's reads say of each domain, the
//!   credentials, the clock and a deployment's forecast ([`doctor::judge`], pure).
//! - [`huawei`]: SDK-HMAC-SHA256 signing ([`huawei::sign`], pure), credentials, quota pacing,
//!   and the CDN API client.
//! - [`source`]: where the certificate comes from when the request names a store
//!   (Secrets Manager, S3, SSM, CSMS, OBS, SCM): the source spec and secret parsing are pure,
//!   the fetch uses [`aws`] (SigV4 clients) and [`huawei`] (CSMS, OBS).
//! - [`scm`]: a Certificate Manager certificate's names, expiry and status, checked like a
//!   leaf's (pure).
//! - [`names`]: names that go into a URL as they are (SCM ids, buckets, path segments), checked
//!   before any call; below both [`source`] and [`stores`] (pure).
//! - [`endpoint`]: configured endpoints, `https://` or loopback only.
//! - [`result`]: the per-domain result and summary (pure data).
//! - [`workflow`]: a Step Functions workflow run: its compact answer and the account's tally
//!   over every attempt (pure).
//! - [`metrics`]: the run's CloudWatch Embedded Metric Format record (pure).
//! - [`redact`]: parser messages stripped of the values they quote (pure).
//! - [`handler`]: one handler shared by every platform: request in, result out.
//! - [`event`]: platform events (API Gateway, Function URL, schedules, destinations, Step
//!   Functions, FunctionGraph timers and APIG, webhook bodies) → the request (pure).
//! - [`http`]: HTTP authentication, limits, budgets and status codes (pure).
//! - [`app`]: one invocation on any platform: event in, answer out.
//! - [`config`], [`clock`]: the environment and wall-clock time, behind small seams.
//! - [`runtime`]: the platform shells: `invoke` on the command line, the Lambda and
//!   FunctionGraph runtime loops, logging.
//! - `sim` (feature `sim`): the Huawei CDN simulator used by tests and `make demo`.

pub mod app;
pub mod aws;
pub mod cert;
pub mod clock;
pub mod config;
pub mod deploy;
pub mod doctor;
pub mod edge;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod handler;
pub mod http;
pub mod huawei;
pub mod metrics;
pub mod names;
pub mod notify;
pub mod plan;
pub mod redact;
pub mod request;
pub mod result;
pub mod runtime;
pub mod scm;
pub mod secret;
#[cfg(feature = "sim")]
pub mod sim;
pub mod source;
pub mod stores;
pub mod transport;
pub mod trust;
pub mod workflow;
