//! `huawei_credentials`: where one Huawei account's keys live, never the keys. The reference is
//! read with the certificate sources' store clients, and the secret's JSON
//! (`{"ak", "sk", "domain_id"?, "security_token"?}`) becomes the run's [`Credentials`]. What the
//! secret holds never reaches a message: errors name the reference and the missing field only.

use serde::Deserialize;
use tokio::time::Instant;

use super::{retrying, SourceConfig, SourceError};
use crate::clock::SharedClock;
use crate::error::FieldError;
use crate::huawei::credential::Credentials;
use crate::secret::Secret;
use crate::stores::aws::AwsClient;
use crate::stores::huawei::StoreClient;
use crate::transport::{FetchError, Reason};

/// Where one account's keys are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum KeysSource {
    /// A Secrets Manager secret (its `SecretString`).
    #[serde(rename = "secretsmanager")]
    SecretsManager { secret_id: String },
    /// An SSM parameter (a `SecureString`, decrypted).
    #[serde(rename = "ssm")]
    Ssm { parameter: String },
    /// A Huawei CSMS secret (its latest version), read with the function's own keys.
    #[serde(rename = "huawei_csms")]
    HuaweiCsms { secret_name: String },
}

impl KeysSource {
    /// The reference in words, for messages and logs.
    pub fn describe(&self) -> String {
        match self {
            Self::SecretsManager { secret_id } => format!("secretsmanager secret `{secret_id}`"),
            Self::Ssm { parameter } => format!("ssm parameter `{parameter}`"),
            Self::HuaweiCsms { secret_name } => format!("huawei_csms secret `{secret_name}`"),
        }
    }

    /// Checks what serde cannot: names not blank, a CSMS name that is one path segment.
    /// `Err(FieldError::new(field path, message))`.
    pub fn check(&self) -> Result<(), FieldError> {
        let (field, name) = match self {
            Self::SecretsManager { secret_id } => ("secret_id", secret_id),
            Self::Ssm { parameter } => ("parameter", parameter),
            Self::HuaweiCsms { secret_name } => ("secret_name", secret_name),
        };
        let field = format!("huawei_credentials.{field}");
        if name.trim().is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if matches!(self, Self::HuaweiCsms { .. }) && !super::spec::path_segment_ok(name, 64, true)
        {
            return Err(FieldError::new(
                field,
                format!(
                    "`{name}` is not a CSMS secret name (1 to 64 letters, digits, `_`, `-` or `.`)"
                ),
            ));
        }
        Ok(())
    }
}

/// The keys a secret holds.
#[derive(Deserialize)]
struct StoredKeys {
    ak: Option<String>,
    sk: Option<String>,
    domain_id: Option<String>,
    security_token: Option<String>,
}

/// Reads an account's keys out of a secret's text (pure). Messages never quote the text.
pub fn parse_keys(text: &str) -> Result<Credentials, FetchError> {
    let bad = |m: &str| FetchError::new(Reason::InvalidContent, m.to_string());
    let keys: StoredKeys = serde_json::from_str(text).map_err(|_| {
        bad("the secret is not a JSON object of `ak`, `sk` and optionally `domain_id`, `security_token`")
    })?;
    let ak = keys
        .ak
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| bad("the secret has no `ak`"))?;
    let sk = keys
        .sk
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad("the secret has no `sk`"))?;
    Ok(Credentials {
        access_key: ak.trim().to_string(),
        secret_key: Secret::new(sk.trim()),
        security_token: keys
            .security_token
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim())),
        domain_id: keys.domain_id.filter(|d| !d.trim().is_empty()),
    })
}

/// Reads the keys `source` names before `deadline`; `huawei` (the function's own keys) reads
/// CSMS.
pub async fn fetch_keys(
    source: &KeysSource,
    config: &SourceConfig,
    huawei: Option<Credentials>,
    clock: SharedClock,
    deadline: Instant,
) -> Result<Credentials, SourceError> {
    let wrap = |e: FetchError| SourceError::named(source.describe(), e);
    let text = match source {
        KeysSource::SecretsManager { secret_id } => {
            let aws = AwsClient::new(config.aws.clone(), clock).map_err(wrap)?;
            retrying(deadline, |t| aws.get_secret_value(secret_id, None, t))
                .await
                .map_err(wrap)?
        }
        KeysSource::Ssm { parameter } => {
            let aws = AwsClient::new(config.aws.clone(), clock).map_err(wrap)?;
            retrying(deadline, |t| aws.get_parameter(parameter, t))
                .await
                .map_err(wrap)?
        }
        KeysSource::HuaweiCsms { secret_name } => {
            let store = StoreClient::new(config.huawei.clone(), huawei, clock).map_err(wrap)?;
            retrying(deadline, |t| store.secret(secret_name, "latest", t))
                .await
                .map_err(wrap)?
        }
    };
    parse_keys(&text).map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_out_of_the_secret_and_its_text_never_into_a_message() {
        let c = parse_keys(
            r#"{"ak": "AK1", "sk": "SK-VALUE", "domain_id": "d1", "security_token": "T"}"#,
        )
        .unwrap();
        assert_eq!(c.access_key, "AK1");
        assert_eq!(c.secret_key.expose(), "SK-VALUE");
        assert_eq!(c.domain_id.as_deref(), Some("d1"));
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("T"));
        for (text, says) in [
            (r#"{"ak": "AK1"}"#, "no `sk`"),
            (r#"{"sk": "SK-VALUE"}"#, "no `ak`"),
            ("SK-VALUE is not json", "not a JSON object"),
            (r#"{"ak": 1, "sk": "SK-VALUE"}"#, "not a JSON object"),
        ] {
            let e = parse_keys(text).unwrap_err();
            assert!(e.detail.contains(says), "{text}: {}", e.detail);
            assert!(!e.detail.contains("SK-VALUE"));
        }
    }

    #[test]
    fn references_are_checked() {
        let parse = |v: serde_json::Value| serde_json::from_value::<KeysSource>(v).unwrap();
        let ok = parse(serde_json::json!({"type": "huawei_csms", "secret_name": "acct-a"}));
        assert!(ok.check().is_ok());
        let dots = parse(serde_json::json!({"type": "huawei_csms", "secret_name": ".."}));
        assert_eq!(
            dots.check().unwrap_err().field,
            "huawei_credentials.secret_name"
        );
        let blank = parse(serde_json::json!({"type": "ssm", "parameter": " "}));
        assert_eq!(
            blank.check().unwrap_err().field,
            "huawei_credentials.parameter"
        );
        assert!(serde_json::from_value::<KeysSource>(
            serde_json::json!({"type": "ssm", "parameter": "/p", "ak": "x"})
        )
        .is_err());
    }
}
