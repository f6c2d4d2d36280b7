//! Certificate sources: a request may name where the certificate lives instead of carrying it
//! (`certificate_source`), so a schedule's input and the environment never hold a private key.
//! The spec and the secret layouts are pure ([`spec`], [`extract`]); an account's keys are read
//! from a store like a source ([`keys`]); [`fetch`] reads the store (AWS by
//! [`crate::stores::aws`], Huawei CSMS/OBS by [`crate::stores::huawei`]) within the budget.

pub mod extract;
pub mod keys;
pub mod spec;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::aws::AwsConfig;
use crate::clock::SharedClock;
use crate::huawei::credential::Credentials;
use crate::scm::ShowCertificate;
use crate::secret::Secret;
use crate::stores::aws::AwsClient;
use crate::stores::huawei::{StoreClient, StoreConfig};
pub use crate::transport::{FetchError, Reason};
use extract::Pair;
pub use spec::CertificateSource;
use spec::{resolve, Locations};

/// Attempts of one store call when the store is unavailable.
const ATTEMPTS: u32 = 3;
/// The longest a single store call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the stores are and the keys to read them (from the environment).
#[derive(Debug, Clone, Default)]
pub struct SourceConfig {
    pub aws: AwsConfig,
    pub huawei: StoreConfig,
    /// `DEPLOY_SCM_CHECK`: whether an SCM certificate's names are read before it is deployed.
    pub scm_check: ScmCheck,
}

/// Whether an SCM certificate is described by Certificate Manager before a run deploys it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScmCheck {
    /// ShowCertificate is read first: its names choose the domains, as a PEM leaf's do, and an
    /// expired certificate is refused. A certificate that cannot be read fails the run.
    #[default]
    Names,
    /// `DEPLOY_SCM_CHECK=off`: nothing is read; the certificate goes to the requested domains
    /// unchecked (for keys without SCM read permission). `match: certsan` is then refused.
    Off,
}

impl ScmCheck {
    /// Reads `DEPLOY_SCM_CHECK` (`names`, the default, or `off`).
    pub fn parse(v: Option<&str>) -> Result<Self, String> {
        match v.map(str::trim) {
            None | Some("") | Some("names") | Some("on") => Ok(Self::Names),
            Some("off") => Ok(Self::Off),
            Some(other) => Err(format!("`{other}` is not `names` or `off`")),
        }
    }
}

/// Reads what Certificate Manager says of SCM certificate `id` (ShowCertificate) before
/// `deadline`, again while SCM is unavailable. `described` names it in an error: the request's
/// `scm_certificate_id`, or the `certificate_source` it came from.
pub async fn scm_certificate(
    id: &str,
    described: String,
    config: &SourceConfig,
    huawei: Option<Credentials>,
    clock: SharedClock,
    deadline: Instant,
) -> Result<ShowCertificate, SourceError> {
    let wrap = |e: FetchError| SourceError::named(described.clone(), e);
    let store = StoreClient::new(config.huawei.clone(), huawei, clock).map_err(wrap)?;
    retrying(deadline, |t| store.scm_certificate(id, t))
        .await
        .map_err(wrap)
}

/// What a source holds: a chain and key to validate like an inline one, or an SCM id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Pem { chain: String, private_key: Secret },
    Scm { id: String },
}

/// A source that could not be read: which one, why, and the store's own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {} ({detail})", reason.word().replace('_', " "))]
pub struct SourceError {
    pub source_name: String,
    pub reason: Reason,
    pub detail: String,
    pub request_id: Option<String>,
}

impl SourceError {
    fn new(source: &CertificateSource, e: FetchError) -> Self {
        Self::named(source.describe(), e)
    }

    /// A failed read of the store `name` describes.
    fn named(source_name: String, e: FetchError) -> Self {
        Self {
            source_name,
            reason: e.reason,
            detail: e.detail,
            request_id: e.request_id,
        }
    }
}

/// How long to wait before reading a mismatched pair again (see [`fetch`]).
const RENEWAL_PAUSE: Duration = Duration::from_millis(1500);

/// Reads the certificate from `source` before `deadline`. `huawei` signs CSMS and OBS calls.
///
/// A certificate and key stored apart (S3, OBS, SSM) are written one after the other by the
/// issuer, so a run that reads between the two writes sees a key that does not match: such a
/// pair is read once more after a short pause before it is judged.
pub async fn fetch(
    source: &CertificateSource,
    config: &SourceConfig,
    huawei: Option<Credentials>,
    clock: SharedClock,
    deadline: Instant,
) -> Result<Fetched, SourceError> {
    let read = || read_once(source, config, huawei.clone(), clock.clone(), deadline);
    let first = read().await?;
    let stored_apart = matches!(
        source,
        CertificateSource::S3(_) | CertificateSource::HuaweiObs(_) | CertificateSource::Ssm(_)
    );
    let time_left = deadline.saturating_duration_since(Instant::now());
    if let (true, Fetched::Pem { chain, private_key }) = (stored_apart, &first) {
        let mismatched = matches!(
            crate::cert::validate(chain, private_key, clock.unix_now()),
            Err(e) if e.code() == "key_mismatch"
        );
        if mismatched && time_left > RENEWAL_PAUSE * 2 {
            tracing::info!(
                source = %source.describe(),
                "the key does not match the certificate; it may be mid-renewal: reading again"
            );
            tokio::time::sleep(RENEWAL_PAUSE).await;
            return read().await;
        }
    }
    Ok(first)
}

async fn read_once(
    source: &CertificateSource,
    config: &SourceConfig,
    huawei: Option<Credentials>,
    clock: SharedClock,
    deadline: Instant,
) -> Result<Fetched, SourceError> {
    let wrap = |e: FetchError| SourceError::new(source, e);
    let pair = match source {
        CertificateSource::Scm(s) => {
            return Ok(Fetched::Scm {
                id: s.certificate_id.trim().to_string(),
            })
        }
        CertificateSource::SecretsManager(s) => {
            let aws = AwsClient::new(config.aws.clone(), clock).map_err(wrap)?;
            let stage = s.version_stage.as_deref();
            let text = retrying(deadline, |t| aws.get_secret_value(&s.secret_id, stage, t))
                .await
                .map_err(wrap)?;
            extract::from_secret(&text, s.json_keys.as_ref()).map_err(|e| extracted(source, e))?
        }
        CertificateSource::HuaweiCsms(s) => {
            let store = StoreClient::new(config.huawei.clone(), huawei, clock).map_err(wrap)?;
            let version = s.version.as_deref().unwrap_or("latest");
            let text = retrying(deadline, |t| store.secret(&s.secret_name, version, t))
                .await
                .map_err(wrap)?;
            extract::from_secret(&text, s.json_keys.as_ref()).map_err(|e| extracted(source, e))?
        }
        CertificateSource::S3(o) => {
            let aws = AwsClient::new(config.aws.clone(), clock).map_err(wrap)?;
            let items = Items::S3(aws, &o.bucket);
            read_pair(source, &resolve(&o.keys, &o.prefix), &items, deadline).await?
        }
        CertificateSource::HuaweiObs(o) => {
            let store = StoreClient::new(config.huawei.clone(), huawei, clock).map_err(wrap)?;
            let items = Items::Obs(store, &o.bucket);
            read_pair(source, &resolve(&o.keys, &o.prefix), &items, deadline).await?
        }
        CertificateSource::Ssm(p) => {
            let aws = AwsClient::new(config.aws.clone(), clock).map_err(wrap)?;
            let items = Items::Ssm(aws);
            read_pair(source, &resolve(&p.parameters, &p.prefix), &items, deadline).await?
        }
    };
    Ok(Fetched::Pem {
        chain: pair.chain,
        private_key: pair.private_key,
    })
}

fn extracted(source: &CertificateSource, e: extract::ExtractError) -> SourceError {
    let reason = if e.reason() == "bad_json_key" {
        Reason::BadJsonKey
    } else {
        Reason::InvalidContent
    };
    SourceError::new(source, FetchError::new(reason, e.to_string()))
}

/// Where the items of a pair stored apart are read: objects of a bucket, or parameters.
enum Items<'a> {
    S3(AwsClient, &'a str),
    Obs(StoreClient, &'a str),
    Ssm(AwsClient),
}

impl Items<'_> {
    async fn read(&self, name: String, timeout: Duration) -> Result<Vec<u8>, FetchError> {
        match self {
            Items::S3(aws, bucket) => aws.get_object(bucket, &name, timeout).await,
            Items::Obs(store, bucket) => store.object(bucket, &name, timeout).await,
            Items::Ssm(aws) => aws
                .get_parameter(&name, timeout)
                .await
                .map(String::into_bytes),
        }
    }
}

/// Reads a chain (or a leaf and its chain) and a key stored as separate objects or parameters.
async fn read_pair(
    source: &CertificateSource,
    names: &Locations,
    items: &Items<'_>,
    deadline: Instant,
) -> Result<Pair, SourceError> {
    let get = |name: String| async move {
        let bytes = retrying(deadline, |t| items.read(name.clone(), t))
            .await
            .map_err(|e| {
                SourceError::new(
                    source,
                    FetchError {
                        detail: format!("`{name}`: {}", e.detail),
                        ..e
                    },
                )
            })?;
        extract::text(&name, bytes).map_err(|e| extracted(source, e))
    };
    let leaf = get(names.certificate.clone()).await?;
    let chain = match &names.chain {
        Some(c) => extract::join(&leaf, Some(&get(c.clone()).await?)),
        None => leaf,
    };
    let key = get(names.private_key.clone()).await?;
    Ok(Pair {
        chain,
        private_key: Secret::new(key),
    })
}

/// Runs a store call, again while the store is unavailable and time is left.
async fn retrying<T, F, Fut>(deadline: Instant, call: F) -> Result<T, FetchError>
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = Result<T, FetchError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(100) {
            return Err(FetchError::new(
                Reason::Unavailable,
                "no time left in the budget to read the source",
            ));
        }
        match call(left.min(CALL_TIMEOUT)).await {
            Err(e) if e.retryable() && attempt < ATTEMPTS => {
                let pause = Duration::from_millis(200 * 3u64.pow(attempt - 1))
                    + Duration::from_millis(fastrand::u64(0..100));
                if Instant::now() + pause >= deadline {
                    return Err(e);
                }
                tracing::warn!(attempt, error = %e, "certificate source unavailable; retrying");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}
