//! cdn-cert-deploy: puts a TLS certificate on Huawei Cloud CDN domains and reports, per domain,
//! what really happened.
//!
//! # Layout
//!
//! A functional core and thin shells (every file: `docs/layout.md`).
//!
//! The core, deciding without I/O:
//!
//! - [`request`]: the deploy request: strict parsing, defaults, validation (pure).
//! - [`event`]: platform events (API Gateway, Function URL, schedules, destinations, Step
//!   Functions, FunctionGraph timers and APIG, webhook bodies) → the request (pure).
//! - [`cert`]: PEM chains and keys, key match, expiry, SAN coverage, fingerprints (pure).
//! - [`trust`]: the chain builds to a trusted root (public web roots or `DEPLOY_TRUST_ROOTS`),
//!   serves TLS, has strong keys; and its order as the CDN should serve it (pure).
//! - [`scm`]: a Certificate Manager certificate's names, expiry and status, checked like a
//!   leaf's (pure).
//! - [`names`]: names that go into a URL as they are (SCM ids, buckets, path segments), checked
//!   before any call; below both [`source`] and [`stores`] (pure).
//! - [`plan`]: the plan of a run: the certificate validated into what to deploy, the job, the
//!   budget split (pure).
//! - [`result`]: the per-domain result and summary (pure data).
//! - [`workflow`]: a Step Functions workflow run: its compact answer and the account's tally
//!   over every attempt (pure).
//! - [`metrics`]: the run's CloudWatch Embedded Metric Format record (pure).
//! - [`redact`]: parser and upstream messages stripped of the values they quote (pure).
//! - [`http`]: HTTP authentication, limits, budgets and status codes (pure).
//! - [`error`]: the codes a result's errors carry, and the configuration error (a leaf).
//! - [`secret`]: values never printed, compared in constant time.
//! - [`endpoint`]: configured endpoints, `https://` or loopback only.
//! - [`config`], [`clock`]: the environment and wall-clock time, behind small seams.
//!
//! The work:
//!
//! - [`deploy`]: per-domain decisions ([`deploy::decide`], pure) and the async driver
//!   ([`deploy::engine`]) that runs every domain within the time budget.
//! - [`doctor`]: the read-only preflight: what an account's reads say of each domain
//!   ([`doctor::judge`], pure) and the deployment's forecast ([`doctor::forecast`], pure).
//! - [`edge`]: the edge check, a handshake to each live domain's CNAME.
//! - [`notify`]: the run's digest ([`notify::digest`], pure) to SNS, SMN and chat webhooks.
//!
//! Clients and stores:
//!
//! - [`huawei`]: SDK-HMAC-SHA256 signing ([`huawei::sign`], pure), credentials, quota pacing,
//!   and the CDN API client.
//! - [`aws`]: SigV4 ([`aws::sigv4`], pure) and the AWS configuration.
//! - [`transport`]: one HTTP exchange with a store or a channel, and its error.
//! - [`stores`]: Secrets Manager, S3, SSM, CSMS, OBS and SCM on the wire.
//! - [`source`]: where the certificate comes from when the request names a store: the source
//!   spec and secret parsing (pure), and the fetch over [`stores`].
//!
//! The shells:
//!
//! - [`handler`]: one handler shared by every platform: request in, result out.
//! - [`app`]: one invocation on any platform: event in, answer out.
//! - [`runtime`]: `invoke` and `doctor` on the command line, the Lambda and FunctionGraph
//!   runtime loops, logging.
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
