//! AWS Signature Version 4, by the official `aws-sigv4` crate: this module only maps our request
//! to its types and picks the per-service settings (S3 signs its path once and sends the payload
//! hash; the JSON services encode the path twice).

use std::time::SystemTime;

use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;

use crate::huawei::credential::Secret;

/// The function's own AWS credentials (the Lambda execution role's, from the environment).
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How a service wants its requests signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Secrets Manager, SSM and most services: path encoded twice, normalized, no payload header.
    Standard,
    /// S3: path encoded once as sent, not normalized, `x-amz-content-sha256` sent and signed.
    S3,
}

/// What to sign.
#[derive(Debug, Clone, Copy)]
pub struct Signable<'a> {
    pub method: &'a str,
    /// The full URL, already percent-encoded, exactly as it will be sent.
    pub url: &'a str,
    /// Headers to sign besides `host` and the `x-amz-*` ones the signer adds.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Signs `req` for `service` in `region` at `time`; returns the headers to add (`authorization`,
/// `x-amz-date`, `x-amz-security-token` with temporary keys, `x-amz-content-sha256` for S3).
pub fn sign(
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    style: Style,
    req: &Signable<'_>,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    sign_with(credentials, region, service, settings_for(style), req, time)
}

fn settings_for(style: Style) -> SigningSettings {
    let mut settings = SigningSettings::default();
    if style == Style::S3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    settings
}

fn sign_with(
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    settings: SigningSettings,
    req: &Signable<'_>,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_string(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        None,
        "environment",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url,
        req.headers.iter().copied(),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::time::{Duration, UNIX_EPOCH};

    #[derive(Deserialize)]
    struct Suite {
        access_key: String,
        secret_key: String,
        region: String,
        service: String,
        vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        method: String,
        path: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: String,
        session_token: Option<String>,
        authorization: String,
        /// The suite's vectors for services that encode the path once (as S3 does).
        #[serde(default)]
        encode_path_once: bool,
        /// The token is sent but added after signing, so it is not signed.
        #[serde(default)]
        omit_session_token: bool,
    }

    /// 2015-08-30T12:36:00Z, the suite's date.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn encode(s: &str) -> String {
        crate::huawei::sign::uri_encode(s)
    }

    #[test]
    fn reproduces_the_aws_sigv4_test_suite() {
        let suite: Suite =
            serde_json::from_str(include_str!("../../tests/vectors/aws-sigv4.json")).unwrap();
        assert!(suite.vectors.len() >= 10);
        for v in &suite.vectors {
            let host = v
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, h)| h.clone())
                .unwrap();
            let query: Vec<String> = v
                .query
                .iter()
                .map(|(k, val)| format!("{}={}", encode(k), encode(val)))
                .collect();
            let path: String = v.path.split('/').map(encode).collect::<Vec<_>>().join("/");
            let url = if query.is_empty() {
                format!("https://{host}{path}")
            } else {
                format!("https://{host}{path}?{}", query.join("&"))
            };
            let headers: Vec<(&str, &str)> = v
                .headers
                .iter()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("x-amz-date")
                        && !k.eq_ignore_ascii_case("x-amz-security-token")
                })
                .map(|(k, val)| (k.as_str(), val.as_str()))
                .collect();
            let creds = AwsCredentials {
                access_key_id: suite.access_key.clone(),
                secret_access_key: Secret::new(suite.secret_key.clone()),
                session_token: v.session_token.clone().map(Secret::new),
            };
            let mut settings = settings_for(Style::Standard);
            if v.encode_path_once {
                settings.percent_encoding_mode = PercentEncodingMode::Single;
            }
            if v.omit_session_token {
                settings.session_token_mode = aws_sigv4::http_request::SessionTokenMode::Exclude;
            }
            let out = sign_with(
                &creds,
                &suite.region,
                &suite.service,
                settings,
                &Signable {
                    method: &v.method,
                    url: &url,
                    headers: &headers,
                    body: v.body.as_bytes(),
                },
                suite_time(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            let auth = out
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, a)| a.as_str())
                .unwrap();
            assert_eq!(auth, v.authorization, "vector {}", v.name);
        }
    }
}
