//! The function's configuration, read from the environment once per process (credentials are
//! re-read per invocation where the platform supplies them). Never from an event.

use std::time::Duration;

use serde_json::Value;

use std::collections::BTreeMap;

use crate::aws::AwsConfig;
use crate::edge::EdgeConnect;
use crate::http::{Allow, HttpAuth};
use crate::huawei::cdn::{Endpoint, DEFAULT_ENDPOINT};
use crate::huawei::credential::Credentials;
use crate::huawei::quota::{Api, Quota};
use crate::notify::NotifyConfig;
use crate::secret::Secret;
use crate::source::{ScmCheck, SourceConfig};
use crate::stores::huawei::StoreConfig;
use crate::trust::TrustRoots;

pub use crate::error::ConfigError;

/// Everything the handler needs besides the event.
#[derive(Clone)]
pub struct Config {
    /// `None` when `HUAWEICLOUD_SDK_AK`/`_SK` are not set (a platform may supply them later).
    pub credentials: Option<Credentials>,
    pub endpoint: Endpoint,
    /// `DEPLOY_REQUEST`: the request of bare scheduled events and defaults for every other event.
    pub default_request: Option<Value>,
    /// `DEPLOY_TIME_BUDGET_SECS`: an upper bound on every run's budget.
    pub budget_cap: Option<Duration>,
    /// `DEPLOY_WEBHOOK_SECRET`, `DEPLOY_WEBHOOK_TOKEN`, `DEPLOY_HTTP_AUTH`.
    pub http_auth: HttpAuth,
    /// `DEPLOY_API_QUOTAS`: quotas by SDK operation name (a count in the documented window, or
    /// `count/secondss`), overriding the documented per-tenant quotas the pacing follows (for an
    /// account with other limits).
    pub quotas: BTreeMap<String, Quota>,
    /// `DEPLOY_CONCURRENCY`: domains in flight at once.
    pub concurrency: Option<usize>,
    /// The certificate stores' endpoints and keys (`AWS_*`, `HUAWEICLOUD_CSMS_ENDPOINT`, ...).
    pub sources: SourceConfig,
    /// Where a run's digest goes, and when (`DEPLOY_NOTIFY_*`).
    pub notify: NotifyConfig,
    /// `DEPLOY_EDGE_CONNECT`: edge names mapped to loopback addresses (tests, the demo).
    pub edge_connect: EdgeConnect,
    /// `DEPLOY_TRUST_ROOTS`: roots of a private CA, trusted besides the public web roots.
    pub trust_roots: TrustRoots,
    /// `DEPLOY_DNS_SERVER` (`ip:port`): the resolver the doctor asks, instead of the system's.
    pub dns_server: Option<std::net::SocketAddr>,
    /// `DEPLOY_FORECAST_SETTLE_SECS`: how long the CDN takes to bring a written domain live, as
    /// the user has seen it; the doctor's forecast assumes a minute without it.
    pub forecast_settle: Option<Duration>,
}

/// `DEPLOY_REQUEST` may carry a private key: Debug shows its shape only (the rest redacts
/// itself).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("credentials", &self.credentials)
            .field("endpoint", &self.endpoint)
            .field(
                "default_request",
                &self.default_request.as_ref().map(crate::redact::Shape),
            )
            .field("budget_cap", &self.budget_cap)
            .field("http_auth", &self.http_auth)
            .field("quotas", &self.quotas)
            .field("concurrency", &self.concurrency)
            .field("sources", &self.sources)
            .field("notify", &self.notify)
            .field("edge_connect", &self.edge_connect)
            .field("trust_roots", &self.trust_roots)
            .field("dns_server", &self.dns_server)
            .field("forecast_settle", &self.forecast_settle)
            .finish()
    }
}

impl Config {
    /// The quota `api` is paced under.
    pub fn quota(&self, api: Api) -> Quota {
        self.quotas
            .get(api.name())
            .copied()
            .unwrap_or(api.documented_quota())
    }
}

impl Config {
    /// Reads the configuration through `env` (a lookup, so tests pass a map). An `@path` value of
    /// `DEPLOY_REQUEST` is read from that file.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let endpoint_text = env("HUAWEICLOUD_CDN_ENDPOINT")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let endpoint = Endpoint::parse(&endpoint_text)
            .map_err(|e| ConfigError::new("HUAWEICLOUD_CDN_ENDPOINT", e.to_string()))?;
        let default_request = match env("DEPLOY_REQUEST").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(parse_default_request(&v)?),
        };
        let budget_cap = match env("DEPLOY_TIME_BUDGET_SECS").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(s) if s > 0 => Some(Duration::from_secs(s)),
                _ => {
                    return Err(ConfigError::new(
                        "DEPLOY_TIME_BUDGET_SECS",
                        format!("`{v}` is not a positive number of seconds"),
                    ))
                }
            },
        };
        let secret = |k: &str| env(k).filter(|v| !v.trim().is_empty()).map(Secret::new);
        let none = match env("DEPLOY_HTTP_AUTH").as_deref().map(str::trim) {
            None | Some("") | Some("signature") | Some("token") => false,
            Some("none") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "DEPLOY_HTTP_AUTH",
                    format!("`{other}` is not `none` (or unset)"),
                ))
            }
        };
        let allow = match env("DEPLOY_HTTP_ALLOW").as_deref().map(str::trim) {
            None | Some("") | Some("certificate") => Allow::Certificate,
            Some("request") => Allow::Request,
            Some(other) => {
                return Err(ConfigError::new(
                    "DEPLOY_HTTP_ALLOW",
                    format!("`{other}` is not `certificate` or `request`"),
                ))
            }
        };
        let quotas = match env("DEPLOY_API_QUOTAS").filter(|v| !v.trim().is_empty()) {
            None => BTreeMap::new(),
            Some(v) => parse_quotas(&v)?,
        };
        let concurrency = match env("DEPLOY_CONCURRENCY").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => Some(n),
                _ => {
                    return Err(ConfigError::new(
                        "DEPLOY_CONCURRENCY",
                        format!("`{v}` is not a number from 1 to 10000"),
                    ))
                }
            },
        };
        let sources = SourceConfig {
            aws: AwsConfig::from_env(&env)?,
            huawei: StoreConfig::from_env(&env)?,
            scm_check: ScmCheck::parse(env("DEPLOY_SCM_CHECK").as_deref())
                .map_err(|message| ConfigError::new("DEPLOY_SCM_CHECK", message))?,
        };
        let edge_connect = match env("DEPLOY_EDGE_CONNECT").filter(|v| !v.trim().is_empty()) {
            None => EdgeConnect::default(),
            Some(v) => EdgeConnect::parse(&v)?,
        };
        let trust_roots = match env("DEPLOY_TRUST_ROOTS").filter(|v| !v.trim().is_empty()) {
            None => TrustRoots::default(),
            Some(v) => parse_trust_roots(&v)?,
        };
        let dns_server = env("DEPLOY_DNS_SERVER")
            .filter(|v| !v.trim().is_empty())
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ConfigError::new("DEPLOY_DNS_SERVER", format!("`{v}` is not ip:port"))
                })
            })
            .transpose()?;
        let forecast_settle = env("DEPLOY_FORECAST_SETTLE_SECS")
            .filter(|v| !v.trim().is_empty())
            .map(|v| match v.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {
                    Ok(Duration::from_secs_f64(s))
                }
                _ => Err(ConfigError::new(
                    "DEPLOY_FORECAST_SETTLE_SECS",
                    format!("`{v}` is not a number of seconds from 0 to 86400"),
                )),
            })
            .transpose()?;
        Ok(Self {
            forecast_settle,
            dns_server,
            trust_roots,
            edge_connect,
            notify: NotifyConfig::from_env(&env)?,
            sources,
            quotas,
            concurrency,
            credentials: Credentials::from_env(&env),
            endpoint,
            default_request,
            budget_cap,
            http_auth: HttpAuth {
                secret: secret("DEPLOY_WEBHOOK_SECRET"),
                token: secret("DEPLOY_WEBHOOK_TOKEN"),
                none,
                allow,
            },
        })
    }

    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(|k| std::env::var(k).ok())
    }
}

fn parse_quotas(v: &str) -> Result<BTreeMap<String, Quota>, ConfigError> {
    let err = |m: String| ConfigError::new("DEPLOY_API_QUOTAS", m);
    let map: BTreeMap<String, Value> = serde_json::from_str(v).map_err(|e| {
        err(format!(
            "expected a JSON object of quotas by API name (`300`, or `300/60s`): {e}"
        ))
    })?;
    let mut quotas = BTreeMap::new();
    for (name, value) in map {
        let Some(api) = Api::by_name(&name) else {
            let known: Vec<&str> = Api::ALL.iter().map(|a| a.name()).collect();
            return Err(err(format!(
                "unknown API `{name}` (known: {})",
                known.join(", ")
            )));
        };
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(err(format!("{name}: a number or a string like `300/60s`"))),
        };
        let quota = Quota::parse(&text, api).map_err(|m| err(format!("{name}: {m}")))?;
        quotas.insert(name, quota);
    }
    Ok(quotas)
}

/// A variable's text, given inline or as `@/path/file`: the text, and where it came from for
/// messages (` (in /path/file)`, or nothing).
fn inline_or_file(variable: &str, v: &str) -> Result<(String, String), ConfigError> {
    Ok(match v.trim().strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new(variable, format!("cannot read `{path}`: {e}")))?,
            format!(" (in {path})"),
        ),
        None => (v.to_string(), String::new()),
    })
}

/// `DEPLOY_TRUST_ROOTS`: PEM text, or `@/path/file.pem`.
fn parse_trust_roots(v: &str) -> Result<TrustRoots, ConfigError> {
    let (text, origin) = inline_or_file("DEPLOY_TRUST_ROOTS", v)?;
    TrustRoots::parse(&text)
        .map_err(|m| ConfigError::new("DEPLOY_TRUST_ROOTS", format!("{m}{origin}")))
}

fn parse_default_request(v: &str) -> Result<Value, ConfigError> {
    let (text, origin) = inline_or_file("DEPLOY_REQUEST", v)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| ConfigError::new("DEPLOY_REQUEST", format!("not valid JSON{origin}: {e}")))?;
    if !value.is_object() {
        return Err(ConfigError::new(
            "DEPLOY_REQUEST",
            format!("must be a JSON object{origin}"),
        ));
    }
    Ok(value)
}

/// A lookup of variables from pairs, as configuration is read in unit tests.
#[cfg(test)]
pub(crate) fn test_env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::test_env as env;
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(env(&[])).unwrap();
        assert_eq!(c.endpoint.host(), "cdn.myhuaweicloud.com");
        assert!(c.credentials.is_none() && c.default_request.is_none() && c.budget_cap.is_none());
        assert_eq!(c.sources.scm_check, ScmCheck::Names);
        let c = Config::from_env(env(&[("DEPLOY_SCM_CHECK", "off")])).unwrap();
        assert_eq!(c.sources.scm_check, ScmCheck::Off);
    }

    #[test]
    fn an_http_caller_may_send_only_the_certificate_unless_request_is_opted_into() {
        // Unset (or empty) is the narrow mode: a token holder renews, it does not choose.
        for unset in [
            &[][..],
            &[("DEPLOY_HTTP_ALLOW", "")],
            &[("DEPLOY_HTTP_ALLOW", "certificate")],
        ] {
            let c = Config::from_env(env(unset)).unwrap();
            assert_eq!(c.http_auth.allow, Allow::Certificate, "{unset:?}");
        }
        let c = Config::from_env(env(&[("DEPLOY_HTTP_ALLOW", "request")])).unwrap();
        assert_eq!(c.http_auth.allow, Allow::Request);
        let e = Config::from_env(env(&[("DEPLOY_HTTP_ALLOW", "all")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_HTTP_ALLOW");
    }

    #[test]
    fn debug_prints_no_secret() {
        let request = r#"{"domains": ["a.example.com"], "private_key": "PRIVATE-KEY-BODY"}"#;
        let c = Config::from_env(env(&[
            ("DEPLOY_REQUEST", request),
            ("HUAWEICLOUD_SDK_AK", "AK-VALUE"),
            ("HUAWEICLOUD_SDK_SK", "SK-VALUE"),
            ("DEPLOY_WEBHOOK_SECRET", "WEBHOOK-SECRET"),
            ("DEPLOY_WEBHOOK_TOKEN", "WEBHOOK-TOKEN"),
            ("DEPLOY_HTTP_ALLOW", "certificate"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "PRIVATE-KEY-BODY",
            "SK-VALUE",
            "WEBHOOK-SECRET",
            "WEBHOOK-TOKEN",
            "a.example.com",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("Certificate"), "{shown}");
    }

    #[test]
    fn errors_name_the_variable() {
        let e = Config::from_env(env(&[(
            "HUAWEICLOUD_CDN_ENDPOINT",
            "http://evil.example.com",
        )]))
        .unwrap_err();
        assert_eq!(e.variable, "HUAWEICLOUD_CDN_ENDPOINT");
        let e = Config::from_env(env(&[("DEPLOY_REQUEST", "{nope")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_REQUEST");
        let e = Config::from_env(env(&[("DEPLOY_TIME_BUDGET_SECS", "soon")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_TIME_BUDGET_SECS");
        let e = Config::from_env(env(&[("DEPLOY_HTTP_AUTH", "off")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_HTTP_AUTH");
        let e = Config::from_env(env(&[("DEPLOY_SCM_CHECK", "no")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_SCM_CHECK");
        let e = Config::from_env(env(&[(
            "HUAWEICLOUD_SCM_ENDPOINT",
            "http://scm.example.com",
        )]))
        .unwrap_err();
        assert_eq!(e.variable, "HUAWEICLOUD_SCM_ENDPOINT");
        let e = Config::from_env(env(&[("DEPLOY_REQUEST", "@/nonexistent/x.json")])).unwrap_err();
        assert!(e.message.contains("/nonexistent/x.json"));
    }

    #[test]
    fn quota_overrides() {
        let c = Config::from_env(env(&[(
            "DEPLOY_API_QUOTAS",
            r#"{"UpdateDomainFullConfig": 50}"#,
        )]))
        .unwrap();
        assert_eq!(c.quota(Api::UpdateFullConfig), Quota::per_minute(50));
        assert_eq!(c.quota(Api::ShowDomainDetail), Quota::per_minute(300));
        let c = Config::from_env(env(&[(
            "DEPLOY_API_QUOTAS",
            r#"{"ShowCertificatesHttpsInfo": "15/0.5s"}"#,
        )]))
        .unwrap();
        assert_eq!(
            c.quota(Api::ShowHttpsInfo),
            Quota::new(15, Duration::from_millis(500))
        );
        for bad in [
            r#"{"ListDomains": 0}"#,
            r#"{"ListDomains": "5/1m"}"#,
            r#"{"ListDomains": true}"#,
        ] {
            let e = Config::from_env(env(&[("DEPLOY_API_QUOTAS", bad)])).unwrap_err();
            assert!(e.message.starts_with("ListDomains: "), "{}", e.message);
        }
        let e = Config::from_env(env(&[("DEPLOY_API_QUOTAS", r#"{"Nope": 5}"#)])).unwrap_err();
        assert!(e.message.contains("unknown API `Nope`"));
        assert!(Config::from_env(env(&[("DEPLOY_CONCURRENCY", "0")])).is_err());
        assert_eq!(
            Config::from_env(env(&[("DEPLOY_CONCURRENCY", "64")]))
                .unwrap()
                .concurrency,
            Some(64)
        );
    }

    #[test]
    fn trust_roots_inline_or_from_a_file() {
        let ca = include_str!("../tests/fixtures/demo-ca.pem");
        let c = Config::from_env(env(&[("DEPLOY_TRUST_ROOTS", ca)])).unwrap();
        assert_eq!(c.trust_roots.names(), ["cdn-cert-deploy Demo CA"]);
        assert!(format!("{c:?}").contains("cdn-cert-deploy Demo CA"));
        let path = format!("{}/tests/fixtures/demo-ca.pem", env!("CARGO_MANIFEST_DIR"));
        let c = Config::from_env(env(&[("DEPLOY_TRUST_ROOTS", &format!("@{path}"))])).unwrap();
        assert_eq!(c.trust_roots.names().len(), 1);
        let e =
            Config::from_env(env(&[("DEPLOY_TRUST_ROOTS", "@/nonexistent/ca.pem")])).unwrap_err();
        assert_eq!(e.variable, "DEPLOY_TRUST_ROOTS");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{}", e.message);
        let e = Config::from_env(env(&[("DEPLOY_TRUST_ROOTS", "not a pem")])).unwrap_err();
        assert!(e.message.contains("BEGIN CERTIFICATE"), "{}", e.message);
        assert!(Config::from_env(env(&[]))
            .unwrap()
            .trust_roots
            .names()
            .is_empty());
    }

    #[test]
    fn default_request_inline() {
        let c = Config::from_env(env(&[
            ("DEPLOY_REQUEST", r#"{"domains":["a.example.com"]}"#),
            ("DEPLOY_TIME_BUDGET_SECS", "60"),
        ]))
        .unwrap();
        assert_eq!(c.default_request.unwrap()["domains"][0], "a.example.com");
        assert_eq!(c.budget_cap, Some(Duration::from_secs(60)));
    }
}
