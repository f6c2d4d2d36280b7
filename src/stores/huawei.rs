//! Huawei Cloud as a certificate store: CSMS secrets (signed like every Huawei API call, by
//! [`crate::huawei::sign`]) and OBS objects (OBS takes its own header signature, `OBS AK:signature`,
//! HMAC-SHA1 over the verb, date, `x-obs-*` headers and resource; not the APIG signature); and
//! Certificate Manager's description of an SCM certificate (ShowCertificate, signed like CSMS).

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, Url};
use serde::Deserialize;

use crate::clock::SharedClock;
use crate::endpoint::Endpoint;
use crate::error::ConfigError;
use crate::huawei::credential::{Credentials, ProjectCall};
use crate::huawei::error::parse_error_body;
use crate::huawei::sign::uri_encode;
use crate::scm::ShowCertificate;
use crate::transport as wire;
use crate::transport::{FetchError, Reason, Reply};

/// Certificate Manager (SCM) is a global service: the official SDKs' region files list
/// `ap-southeast-1` for the international site (and `cn-north-4` for the Chinese mainland one).
pub const DEFAULT_SCM_ENDPOINT: &str = "https://scm.ap-southeast-1.myhuaweicloud.com";

/// Where the Huawei stores are: `HUAWEICLOUD_CSMS_ENDPOINT`, `HUAWEICLOUD_OBS_ENDPOINT`, or the
/// public regional endpoints of `HUAWEICLOUD_SDK_REGION`; the project of CSMS secrets; and
/// `HUAWEICLOUD_SCM_ENDPOINT` (default [`DEFAULT_SCM_ENDPOINT`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfig {
    pub csms_endpoint: Option<Endpoint>,
    pub obs_endpoint: Option<Endpoint>,
    pub project_id: Option<String>,
    /// `None`: [`DEFAULT_SCM_ENDPOINT`].
    pub scm_endpoint: Option<Endpoint>,
}

impl StoreConfig {
    /// Reads the variables through `env`; an unusable endpoint is an error naming its variable.
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let region = get("HUAWEICLOUD_SDK_REGION");
        let parse = |var: &str| -> Result<Option<Endpoint>, ConfigError> {
            get(var)
                .map(|v| Endpoint::parse(&v).map_err(|e| ConfigError::new(var, e.to_string())))
                .transpose()
        };
        let public = |service: &str| {
            region.as_deref().and_then(|r| {
                Endpoint::parse(&format!("https://{service}.{r}.myhuaweicloud.com")).ok()
            })
        };
        let csms_endpoint = parse("HUAWEICLOUD_CSMS_ENDPOINT")?.or_else(|| public("kms"));
        let obs_endpoint = parse("HUAWEICLOUD_OBS_ENDPOINT")?.or_else(|| public("obs"));
        let scm_endpoint = parse("HUAWEICLOUD_SCM_ENDPOINT")?;
        // FunctionGraph gives the function's project as RUNTIME_PROJECT_ID.
        let project_id = get("HUAWEICLOUD_SDK_PROJECT_ID").or_else(|| get("RUNTIME_PROJECT_ID"));
        Ok(Self {
            csms_endpoint,
            obs_endpoint,
            project_id,
            scm_endpoint,
        })
    }
}

/// A client of CSMS and OBS with the function's Huawei credentials.
#[derive(Debug, Clone)]
pub struct StoreClient {
    http: reqwest::Client,
    config: StoreConfig,
    credentials: Option<Credentials>,
    clock: SharedClock,
}

#[derive(Deserialize)]
struct VersionAnswer {
    version: SecretVersion,
}

#[derive(Deserialize)]
struct SecretVersion {
    secret_string: Option<String>,
    secret_binary: Option<String>,
}

impl StoreClient {
    pub fn new(
        config: StoreConfig,
        credentials: Option<Credentials>,
        clock: SharedClock,
    ) -> Result<Self, FetchError> {
        Ok(Self {
            http: wire::client()?,
            config,
            credentials,
            clock,
        })
    }

    fn credentials(&self) -> Result<&Credentials, FetchError> {
        self.credentials.as_ref().ok_or_else(|| {
            FetchError::new(
                Reason::NotConfigured,
                "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not set",
            )
        })
    }

    /// CSMS ShowSecretVersion: the secret's text.
    pub async fn secret(
        &self,
        name: &str,
        version: &str,
        timeout: Duration,
    ) -> Result<String, FetchError> {
        let credentials = self.credentials()?;
        let endpoint = self.config.csms_endpoint.as_ref().ok_or_else(|| {
            FetchError::new(
                Reason::NotConfigured,
                "HUAWEICLOUD_CSMS_ENDPOINT (or HUAWEICLOUD_SDK_REGION) is not set",
            )
        })?;
        let project = self.config.project_id.as_deref().ok_or_else(|| {
            FetchError::new(
                Reason::NotConfigured,
                "HUAWEICLOUD_SDK_PROJECT_ID (or RUNTIME_PROJECT_ID) is not set",
            )
        })?;
        // The wire path escapes a `/` inside the name; the signature is over the unescaped path,
        // as the gateway (and the official signer) decode before canonicalizing.
        let path = format!(
            "/v1/{}/secrets/{}/versions/{}",
            uri_encode(project),
            uri_encode(name),
            uri_encode(version)
        );
        let signed_path = format!("/v1/{project}/secrets/{name}/versions/{version}");
        let headers = credentials.sign_project_call(
            &ProjectCall {
                method: "GET",
                signed_path: &signed_path,
                body: &[],
                host: endpoint.host(),
                project_id: project,
                content_type: "application/json",
            },
            self.clock.unix_now(),
        );
        let url = url(&format!("{}{path}", endpoint.as_str()))?;
        let reply = wire::send(&self.http, Method::GET, url, &headers, Vec::new(), timeout).await?;
        csms_secret_text(&reply)
    }

    /// SCM ShowCertificate (`GET /v3/scm/certificates/{certificate_id}`): what Certificate
    /// Manager says of certificate `id` (its names, expiry and status).
    pub async fn scm_certificate(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<ShowCertificate, FetchError> {
        let credentials = self.credentials()?;
        if !crate::names::scm_id_ok(id) {
            // Checked with the request already; kept here so no caller can steer the path.
            return Err(FetchError::new(
                Reason::Rejected,
                format!("`{id}` is not an SCM certificate id"),
            ));
        }
        let default;
        let endpoint = match &self.config.scm_endpoint {
            Some(e) => e,
            None => {
                default = Endpoint::parse(DEFAULT_SCM_ENDPOINT).expect("a valid default");
                &default
            }
        };
        let path = format!("/v3/scm/certificates/{id}");
        let headers = credentials.sign_global_get(&path, endpoint.host(), self.clock.unix_now());
        let url = url(&format!("{}{path}", endpoint.as_str()))?;
        let reply = wire::send(&self.http, Method::GET, url, &headers, Vec::new(), timeout).await?;
        scm_certificate_answer(&reply)
    }

    /// OBS GetObject: the object's bytes.
    pub async fn object(
        &self,
        bucket: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        let credentials = self.credentials()?;
        let endpoint = self.config.obs_endpoint.as_ref().ok_or_else(|| {
            FetchError::new(
                Reason::NotConfigured,
                "HUAWEICLOUD_OBS_ENDPOINT (or HUAWEICLOUD_SDK_REGION) is not set",
            )
        })?;
        if !crate::names::obs_bucket_name_ok(bucket) {
            // Checked with the request already; kept here so no caller can steer the host.
            return Err(FetchError::new(
                Reason::Rejected,
                format!("`{bucket}` is not an OBS bucket name"),
            ));
        }
        let encoded_key = key.split('/').map(uri_encode).collect::<Vec<_>>().join("/");
        let target = obs_object_url(endpoint, bucket, &encoded_key);
        let date = crate::clock::http_date(self.clock.unix_now());
        let mut obs_headers: Vec<(String, String)> = Vec::new();
        if let Some(token) = &credentials.security_token {
            obs_headers.push(("x-obs-security-token".into(), token.expose().to_string()));
        }
        let resource = format!("/{bucket}/{encoded_key}");
        let to_sign = obs_string_to_sign("GET", "", "", &date, &obs_headers, &resource);
        let signature = obs_signature(credentials.secret_key.expose(), &to_sign);
        let mut headers = obs_headers;
        headers.push(("Date".into(), date));
        headers.push((
            "Authorization".into(),
            format!("OBS {}:{signature}", credentials.access_key),
        ));
        let reply = wire::send(
            &self.http,
            Method::GET,
            url(&target)?,
            &headers,
            Vec::new(),
            timeout,
        )
        .await?;
        reply.object_body("x-obs-request-id")
    }
}

/// A Huawei service's JSON answer (`what` names it in an error), or the error of an answer that
/// is not 2xx (its `error_code` and `error_msg`).
fn json_answer<T: serde::de::DeserializeOwned>(reply: &Reply, what: &str) -> Result<T, FetchError> {
    if !(200..300).contains(&reply.status) {
        let (code, message) = parse_error_body(&reply.body).unwrap_or_default();
        return Err(FetchError::answer(
            reply.status,
            &code,
            &message,
            reply.header("x-request-id"),
        ));
    }
    serde_json::from_slice(&reply.body).map_err(|e| {
        FetchError::new(
            Reason::Rejected,
            format!(
                "unexpected {what} answer: {}",
                crate::redact::serde_message(&e.to_string())
            ),
        )
    })
}

/// The secret's text in a CSMS ShowSecretVersion answer, or the error of an answer that is not
/// 2xx.
pub fn csms_secret_text(reply: &Reply) -> Result<String, FetchError> {
    let answer: VersionAnswer = json_answer(reply, "CSMS")?;
    wire::secret_text(
        answer.version.secret_string,
        answer.version.secret_binary,
        ("secret_string", "secret_binary"),
    )
}

/// The certificate a ShowCertificate answer describes, or the error of an answer that is not
/// 2xx.
pub fn scm_certificate_answer(reply: &Reply) -> Result<ShowCertificate, FetchError> {
    json_answer(reply, "SCM")
}

/// Public OBS wants the bucket in the host name (a path-style request is refused with 403
/// `VirtualHostDomainRequired`), whatever endpoint is configured; only a loopback simulator
/// is addressed path-style. The signed resource is `/bucket/key` either way.
fn obs_object_url(endpoint: &Endpoint, bucket: &str, encoded_key: &str) -> String {
    let scheme = endpoint.url().scheme();
    let host = endpoint.host();
    if endpoint.is_loopback() {
        format!("{scheme}://{host}/{bucket}/{encoded_key}")
    } else {
        format!("{scheme}://{bucket}.{host}/{encoded_key}")
    }
}

fn url(s: &str) -> Result<Url, FetchError> {
    Url::parse(s).map_err(|e| FetchError::new(Reason::Rejected, format!("URL {s}: {e}")))
}

/// OBS's string to sign: verb, Content-MD5, Content-Type, Date, the `x-obs-*` headers
/// (lower-case, sorted, `name:value\n`) and the resource `/bucket/key`.
pub fn obs_string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    obs_headers: &[(String, String)],
    resource: &str,
) -> String {
    let mut canonical: Vec<(String, String)> = obs_headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| k.starts_with("x-obs-"))
        .collect();
    canonical.sort();
    let headers: String = canonical
        .iter()
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect();
    format!("{method}\n{content_md5}\n{content_type}\n{date}\n{headers}{resource}")
}

/// Base64 of HMAC-SHA1 keyed with the secret key.
pub fn obs_signature(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        use crate::clock::http_date;
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_874_600), "Sat, 28 Nov 2026 14:03:20 GMT");
    }

    #[test]
    fn obs_string_to_sign_layout() {
        let s = obs_string_to_sign(
            "GET",
            "",
            "",
            "Sat, 28 Nov 2026 14:03:20 GMT",
            &[("X-Obs-Security-Token".into(), "t".into())],
            "/certs/live/fullchain.pem",
        );
        assert_eq!(
            s,
            "GET\n\n\nSat, 28 Nov 2026 14:03:20 GMT\nx-obs-security-token:t\n/certs/live/fullchain.pem"
        );
    }

    #[test]
    fn obs_is_virtual_hosted_except_on_loopback() {
        let e = |u: &str| Endpoint::parse(u).unwrap();
        assert_eq!(
            obs_object_url(
                &e("https://obs.cn-north-4.myhuaweicloud.com"),
                "certs",
                "a/b.pem"
            ),
            "https://certs.obs.cn-north-4.myhuaweicloud.com/a/b.pem"
        );
        assert_eq!(
            obs_object_url(&e("http://127.0.0.1:9000"), "certs", "a/b.pem"),
            "http://127.0.0.1:9000/certs/a/b.pem"
        );
    }

    #[test]
    fn endpoints_from_region_or_override() {
        let env = |k: &str| match k {
            "HUAWEICLOUD_SDK_REGION" => Some("ap-southeast-1".to_string()),
            "RUNTIME_PROJECT_ID" => Some("p1".to_string()),
            _ => None,
        };
        let c = StoreConfig::from_env(&env).unwrap();
        assert_eq!(
            c.csms_endpoint.unwrap().host(),
            "kms.ap-southeast-1.myhuaweicloud.com"
        );
        assert_eq!(c.project_id.as_deref(), Some("p1"));
        // SCM is global: no region decides it; unset, the default endpoint is used.
        assert!(c.scm_endpoint.is_none());
        assert_eq!(
            Endpoint::parse(DEFAULT_SCM_ENDPOINT).unwrap().host(),
            "scm.ap-southeast-1.myhuaweicloud.com"
        );
        let env = |k: &str| {
            (k == "HUAWEICLOUD_SCM_ENDPOINT")
                .then(|| "https://scm.cn-north-4.myhuaweicloud.com".to_string())
        };
        assert_eq!(
            StoreConfig::from_env(&env)
                .unwrap()
                .scm_endpoint
                .unwrap()
                .host(),
            "scm.cn-north-4.myhuaweicloud.com"
        );
        let env = |k: &str| {
            (k == "HUAWEICLOUD_OBS_ENDPOINT").then(|| "http://obs.example.com".to_string())
        };
        assert_eq!(
            StoreConfig::from_env(&env).unwrap_err().variable,
            "HUAWEICLOUD_OBS_ENDPOINT"
        );
    }
}
