//! The three AWS reads a certificate source needs, on the wire formats of the services: the JSON
//! 1.1 protocol (Secrets Manager, SSM: `POST /` with `X-Amz-Target`) and S3's REST GetObject.

use std::time::{Duration, UNIX_EPOCH};

use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::aws::config::{AwsConfig, Service};
use crate::aws::sigv4::{self, Signable, Style};
use crate::clock::SharedClock;
use crate::endpoint::Endpoint;
use crate::huawei::sign::uri_encode;
use crate::transport::{self as wire, Reply};
use crate::transport::{FetchError, Reason};

/// A client of the AWS stores, signing with the function's own credentials.
#[derive(Debug, Clone)]
pub struct AwsClient {
    http: reqwest::Client,
    config: AwsConfig,
    clock: SharedClock,
}

#[derive(Deserialize)]
struct SecretValue {
    #[serde(rename = "SecretString")]
    secret_string: Option<String>,
    #[serde(rename = "SecretBinary")]
    secret_binary: Option<String>,
}

#[derive(Deserialize)]
struct ParameterAnswer {
    #[serde(rename = "Parameter")]
    parameter: Parameter,
}

#[derive(Deserialize)]
struct Parameter {
    #[serde(rename = "Value")]
    value: String,
}

impl AwsClient {
    pub fn new(config: AwsConfig, clock: SharedClock) -> Result<Self, FetchError> {
        Ok(Self {
            http: wire::client()?,
            config,
            clock,
        })
    }

    /// Secrets Manager GetSecretValue: the secret's text (`SecretString`, or `SecretBinary` as
    /// UTF-8).
    pub async fn get_secret_value(
        &self,
        secret_id: &str,
        version_stage: Option<&str>,
        timeout: Duration,
    ) -> Result<String, FetchError> {
        let mut body = json!({ "SecretId": secret_id });
        if let Some(stage) = version_stage {
            body["VersionStage"] = json!(stage);
        }
        let reply = self
            .json_call(
                Service::SecretsManager,
                "secretsmanager.GetSecretValue",
                body,
                timeout,
            )
            .await?;
        secret_value_text(&reply)
    }

    /// SSM GetParameter with decryption (a SecureString's plain text).
    pub async fn get_parameter(&self, name: &str, timeout: Duration) -> Result<String, FetchError> {
        let body = json!({ "Name": name, "WithDecryption": true });
        let reply = self
            .json_call(Service::Ssm, "AmazonSSM.GetParameter", body, timeout)
            .await?;
        parameter_value(&reply)
    }

    /// S3 GetObject: the object's bytes.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        let target = self.endpoint(Service::S3)?;
        let encoded_key = key.split('/').map(uri_encode).collect::<Vec<_>>().join("/");
        let url = s3_object_url(&target.endpoint, bucket, &encoded_key);
        let reply = self
            .signed(
                Service::S3,
                Style::S3,
                Call {
                    method: Method::GET,
                    url: &url,
                    headers: &[],
                    body: Vec::new(),
                },
                timeout,
            )
            .await?;
        reply.object_body("x-amz-request-id")
    }

    fn endpoint(
        &self,
        service: Service,
    ) -> Result<crate::aws::config::ServiceEndpoint, FetchError> {
        if self.config.credentials.is_none() {
            return Err(FetchError::new(
                Reason::NotConfigured,
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
            ));
        }
        self.config.endpoint(service).ok_or_else(|| {
            FetchError::new(
                Reason::NotConfigured,
                format!(
                    "AWS_REGION is not set (nor {} / AWS_ENDPOINT_URL)",
                    service.endpoint_variable()
                ),
            )
        })
    }

    async fn json_call(
        &self,
        service: Service,
        target: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<Reply, FetchError> {
        let endpoint = self.endpoint(service)?;
        let url = format!("{}/", endpoint.endpoint.as_str());
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let reply = self
            .signed(
                service,
                Style::Standard,
                Call {
                    method: Method::POST,
                    url: &url,
                    headers: &headers,
                    body: body.to_string().into_bytes(),
                },
                timeout,
            )
            .await?;
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        Err(json_error(&reply))
    }

    async fn signed(
        &self,
        service: Service,
        style: Style,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<Reply, FetchError> {
        let Call {
            method,
            url,
            headers,
            body,
        } = call;
        let credentials =
            self.config.credentials.as_ref().ok_or_else(|| {
                FetchError::new(Reason::NotConfigured, "AWS credentials are not set")
            })?;
        let region = self.config.region.as_deref().unwrap_or("us-east-1");
        let time = UNIX_EPOCH + Duration::from_secs(self.clock.unix_now().max(0) as u64);
        let signing = sigv4::sign(
            credentials,
            region,
            service.signing_name(),
            style,
            &Signable {
                method: method.as_str(),
                url,
                headers,
                body: &body,
            },
            time,
        )
        .map_err(|e| FetchError::new(Reason::Rejected, format!("signing: {e}")))?;
        let parsed =
            Url::parse(url).map_err(|e| FetchError::new(Reason::Rejected, format!("URL: {e}")))?;
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.extend(signing);
        wire::send(&self.http, method, parsed, &all, body, timeout).await
    }
}

/// One request to sign and send.
struct Call<'a> {
    method: Method,
    url: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: Vec<u8>,
}

/// Virtual-hosted addressing, as the AWS SDKs default to (also for a configured endpoint);
/// path-style for a loopback stand-in and for bucket names a host name cannot carry (dots
/// would break the TLS name check).
fn s3_object_url(endpoint: &Endpoint, bucket: &str, encoded_key: &str) -> String {
    let scheme = endpoint.url().scheme();
    let host = endpoint.host();
    if !endpoint.is_loopback() && virtual_host_ok(bucket) {
        format!("{scheme}://{bucket}.{host}/{encoded_key}")
    } else {
        format!("{scheme}://{host}/{}/{encoded_key}", uri_encode(bucket))
    }
}

/// A bucket name usable as a DNS label under TLS (no dots: the wildcard certificate covers one
/// label only).
fn virtual_host_ok(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The error of a JSON 1.1 answer (Secrets Manager, SSM) that is not 2xx: `__type` (or the
/// `X-Amzn-ErrorType` header) and `message`, whatever the body holds.
pub fn json_error(reply: &Reply) -> FetchError {
    let parsed: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let code = parsed
        .get("__type")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| reply.header("x-amzn-errortype"))
        .unwrap_or_default();
    // `com.amazonaws.secretsmanager#ResourceNotFoundException` and `Code:http://...` forms.
    let code = code.rsplit('#').next().unwrap_or_default();
    let code = code.split(':').next().unwrap_or_default();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| parsed.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    FetchError::answer(
        reply.status,
        code,
        message,
        reply.header("x-amzn-requestid"),
    )
}

/// The secret's text in a 2xx GetSecretValue answer (`SecretString`, or `SecretBinary` as UTF-8).
pub fn secret_value_text(reply: &Reply) -> Result<String, FetchError> {
    let v: SecretValue = decode(reply)?;
    wire::secret_text(
        v.secret_string,
        v.secret_binary,
        ("SecretString", "SecretBinary"),
    )
}

/// The value in a 2xx GetParameter answer.
pub fn parameter_value(reply: &Reply) -> Result<String, FetchError> {
    let v: ParameterAnswer = decode(reply)?;
    Ok(v.parameter.value)
}

fn decode<T: serde::de::DeserializeOwned>(reply: &Reply) -> Result<T, FetchError> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        FetchError::new(
            Reason::Rejected,
            format!(
                "unexpected answer (HTTP {}): {}",
                reply.status,
                crate::redact::serde_message(&e.to_string())
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_is_virtual_hosted_unless_loopback_or_dotted() {
        let e = |u: &str| Endpoint::parse(u).unwrap();
        // A configured endpoint is addressed as the SDKs address it by default.
        let custom = e("https://s3.storage.example.internal");
        assert_eq!(
            s3_object_url(&custom, "certs", "k.pem"),
            "https://certs.s3.storage.example.internal/k.pem"
        );
        let public = e("https://s3.eu-west-1.amazonaws.com");
        assert_eq!(
            s3_object_url(&public, "my.certs", "k.pem"),
            "https://s3.eu-west-1.amazonaws.com/my.certs/k.pem"
        );
        assert_eq!(
            s3_object_url(&e("http://localhost:4566"), "certs", "k.pem"),
            "http://localhost:4566/certs/k.pem"
        );
    }

    #[test]
    fn virtual_hosting_only_for_dns_safe_names() {
        assert!(virtual_host_ok("my-certs-2026"));
        assert!(!virtual_host_ok("my.certs"));
        assert!(!virtual_host_ok("My_Certs"));
    }
}
