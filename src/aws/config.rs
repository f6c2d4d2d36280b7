//! Where AWS calls go and with which keys, from the environment the way the AWS SDKs read it:
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, `AWS_REGION`, and the endpoint
//! overrides `AWS_ENDPOINT_URL_<SERVICE>` then `AWS_ENDPOINT_URL`.

use super::sigv4::AwsCredentials;
use crate::endpoint::Endpoint;
use crate::error::ConfigError;
use crate::secret::Secret;

/// The AWS services the function calls: the certificate stores, and SNS for notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    SecretsManager,
    S3,
    Ssm,
    Sns,
}

impl Service {
    /// The signing name (the credential scope's service).
    pub fn signing_name(self) -> &'static str {
        match self {
            Self::SecretsManager => "secretsmanager",
            Self::S3 => "s3",
            Self::Ssm => "ssm",
            Self::Sns => "sns",
        }
    }

    /// The service-specific endpoint variable (the SDKs' service id, upper-cased, `_` for spaces).
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Self::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            Self::S3 => "AWS_ENDPOINT_URL_S3",
            Self::Ssm => "AWS_ENDPOINT_URL_SSM",
            Self::Sns => "AWS_ENDPOINT_URL_SNS",
        }
    }

    const ALL: [Service; 4] = [Self::SecretsManager, Self::S3, Self::Ssm, Self::Sns];

    fn index(self) -> usize {
        self as usize
    }
}

/// A service's endpoint, and whether it was configured (then S3 is addressed path-style, as
/// local stand-ins expect) or the public one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEndpoint {
    pub endpoint: Endpoint,
    pub overridden: bool,
}

/// AWS settings of the function; each piece may be missing until a source needs it.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    pub credentials: Option<AwsCredentials>,
    pub region: Option<String>,
    overrides: [Option<Endpoint>; 4],
}

impl AwsConfig {
    /// Reads the AWS variables through `env`.
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let credentials = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(AwsCredentials {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
            }),
            _ => None,
        };
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"));
        let mut overrides: [Option<Endpoint>; 4] = Default::default();
        let ignore = get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !ignore {
            for service in Service::ALL {
                let var = service.endpoint_variable();
                let (name, value) = match get(var) {
                    Some(v) => (var, v),
                    None => match get("AWS_ENDPOINT_URL") {
                        Some(v) => ("AWS_ENDPOINT_URL", v),
                        None => continue,
                    },
                };
                let endpoint =
                    Endpoint::parse(&value).map_err(|e| ConfigError::new(name, e.to_string()))?;
                overrides[service.index()] = Some(endpoint);
            }
        }
        Ok(Self {
            credentials,
            region,
            overrides,
        })
    }

    /// The endpoint of `service`: the override, or the public regional one.
    pub fn endpoint(&self, service: Service) -> Option<ServiceEndpoint> {
        match self.region.as_deref() {
            Some(region) => self.endpoint_in(service, region),
            None => self.overrides[service.index()]
                .clone()
                .map(|endpoint| ServiceEndpoint {
                    endpoint,
                    overridden: true,
                }),
        }
    }

    /// The endpoint of `service` in `region` (an SNS topic's region comes from its ARN): the
    /// override, or the public regional one.
    pub fn endpoint_in(&self, service: Service, region: &str) -> Option<ServiceEndpoint> {
        if let Some(e) = &self.overrides[service.index()] {
            return Some(ServiceEndpoint {
                endpoint: e.clone(),
                overridden: true,
            });
        }
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let url = format!("https://{}.{region}.{suffix}", service.signing_name());
        Endpoint::parse(&url).ok().map(|endpoint| ServiceEndpoint {
            endpoint,
            overridden: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_env as env;

    #[test]
    fn public_endpoints_by_region() {
        let c = AwsConfig::from_env(&env(&[("AWS_REGION", "eu-west-1")])).unwrap();
        let e = c.endpoint(Service::SecretsManager).unwrap();
        assert_eq!(e.endpoint.host(), "secretsmanager.eu-west-1.amazonaws.com");
        assert!(!e.overridden);
        let c = AwsConfig::from_env(&env(&[("AWS_DEFAULT_REGION", "cn-north-1")])).unwrap();
        assert_eq!(
            c.endpoint(Service::Ssm).unwrap().endpoint.host(),
            "ssm.cn-north-1.amazonaws.com.cn"
        );
        assert!(AwsConfig::from_env(&env(&[]))
            .unwrap()
            .endpoint(Service::S3)
            .is_none());
    }

    #[test]
    fn overrides_as_the_sdks_read_them() {
        let c = AwsConfig::from_env(&env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_S3", "http://localhost:9000"),
        ]))
        .unwrap();
        assert_eq!(
            c.endpoint(Service::S3).unwrap().endpoint.host(),
            "localhost:9000"
        );
        assert_eq!(
            c.endpoint(Service::Ssm).unwrap().endpoint.host(),
            "127.0.0.1:4566"
        );
        assert!(c.endpoint(Service::Ssm).unwrap().overridden);
        let c = AwsConfig::from_env(&env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]))
        .unwrap();
        assert!(!c.endpoint(Service::Ssm).unwrap().overridden);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let e = AwsConfig::from_env(&env(&[(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "http://secrets.example.com",
        )]))
        .unwrap_err();
        assert_eq!(e.variable, "AWS_ENDPOINT_URL_SECRETS_MANAGER");
    }

    #[test]
    fn credentials_are_redacted_in_debug() {
        let c = AwsConfig::from_env(&env(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("AWS_SESSION_TOKEN", "token-secret"),
        ]))
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(dbg.contains("AKIAEXAMPLE"));
        assert!(!dbg.contains("very-secret") && !dbg.contains("token-secret"));
    }
}
