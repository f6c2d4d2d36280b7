//! Huawei Cloud access keys: where they come from, and how they stay out of logs.

use super::sign;

pub use crate::secret::{constant_time_eq, Secret};

/// An AK/SK pair, with the security token of temporary keys and the optional account id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id is not secret on its own, but only a prefix is ever logged.
    pub access_key: String,
    pub secret_key: Secret,
    pub security_token: Option<Secret>,
    pub domain_id: Option<String>,
}

/// A call to a project-level service (CSMS, SMN), before signing.
pub struct ProjectCall<'a> {
    pub method: &'a str,
    /// The path as signed: its segments unescaped (the gateway decodes before it checks).
    pub signed_path: &'a str,
    pub body: &'a [u8],
    /// The `Host` header (the endpoint's host and port).
    pub host: &'a str,
    pub project_id: &'a str,
    pub content_type: &'a str,
}

impl Credentials {
    /// The headers of `call`, signed at `unix_now`: `Content-Type`, `X-Sdk-Date`, `Host`,
    /// `X-Project-Id` (what the official SDKs send to a project-level service; required where the
    /// account has several projects in the region), `X-Security-Token` with temporary keys, and
    /// `Authorization`.
    pub fn sign_project_call(
        &self,
        call: &ProjectCall<'_>,
        unix_now: i64,
    ) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), call.content_type.into()),
            (sign::DATE_HEADER.into(), sign::sdk_date(unix_now)),
            ("Host".into(), call.host.into()),
            ("X-Project-Id".into(), call.project_id.into()),
        ];
        if let Some(token) = &self.security_token {
            headers.push(("X-Security-Token".into(), token.expose().to_string()));
        }
        let authorization = sign::sign(
            &sign::SignableRequest {
                method: call.method,
                path: call.signed_path,
                query: &[],
                headers: &headers,
                body: call.body,
            },
            &self.access_key,
            self.secret_key.expose(),
        );
        headers.push(("Authorization".into(), authorization));
        headers
    }

    /// The headers of a GET of `signed_path` on a global service (SCM) at `host`, signed at
    /// `unix_now`: as the CDN calls are, `Content-Type`, `X-Sdk-Date`, `Host`,
    /// `X-Security-Token` with temporary keys, `X-Domain-Id` when `HUAWEICLOUD_SDK_DOMAIN_ID` is
    /// set (a global service's account), and `Authorization`.
    pub fn sign_global_get(
        &self,
        signed_path: &str,
        host: &str,
        unix_now: i64,
    ) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), "application/json".into()),
            (sign::DATE_HEADER.into(), sign::sdk_date(unix_now)),
            ("Host".into(), host.into()),
        ];
        if let Some(token) = &self.security_token {
            headers.push(("X-Security-Token".into(), token.expose().to_string()));
        }
        if let Some(id) = &self.domain_id {
            headers.push(("X-Domain-Id".into(), id.clone()));
        }
        let authorization = sign::sign(
            &sign::SignableRequest {
                method: "GET",
                path: signed_path,
                query: &[],
                headers: &headers,
                body: &[],
            },
            &self.access_key,
            self.secret_key.expose(),
        );
        headers.push(("Authorization".into(), authorization));
        headers
    }

    /// Reads `HUAWEICLOUD_SDK_AK`, `_SK`, `_SECURITY_TOKEN` and `_DOMAIN_ID` through `env`.
    /// `None` when the key pair is incomplete.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let non_empty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        Some(Self {
            access_key: non_empty("HUAWEICLOUD_SDK_AK")?,
            secret_key: Secret::new(non_empty("HUAWEICLOUD_SDK_SK")?),
            security_token: non_empty("HUAWEICLOUD_SDK_SECURITY_TOKEN").map(Secret::new),
            domain_id: non_empty("HUAWEICLOUD_SDK_DOMAIN_ID"),
        })
    }

    /// The first four characters of the access key, enough to tell keys apart in a log.
    pub fn access_key_hint(&self) -> String {
        let head: String = self.access_key.chars().take(4).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials {
            access_key: "AKEXAMPLE".into(),
            secret_key: Secret::new("very-secret-key"),
            security_token: Some(Secret::new("token-value")),
            domain_id: None,
        };
        let shown = format!("{c:?} {}", c.secret_key);
        assert!(!shown.contains("very-secret-key"));
        assert!(!shown.contains("token-value"));
        assert_eq!(c.access_key_hint(), "AKEX…");
    }

    #[test]
    fn a_global_call_carries_the_account_not_a_project() {
        let mut c = Credentials {
            access_key: "AK".into(),
            secret_key: Secret::new("SK"),
            security_token: None,
            domain_id: None,
        };
        let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        let h = c.sign_global_get("/v3/scm/certificates/scs1", "scm.example.com", 0);
        assert_eq!(
            names(&h),
            ["Content-Type", "X-Sdk-Date", "Host", "Authorization"]
        );
        c.domain_id = Some("d1".into());
        let h = c.sign_global_get("/v3/scm/certificates/scs1", "scm.example.com", 0);
        assert!(h.contains(&("X-Domain-Id".to_string(), "d1".to_string())));
        let auth = sign::parse_authorization(&h.last().unwrap().1).unwrap();
        assert!(auth.signed_headers.iter().any(|n| n == "x-domain-id"));
        assert!(!auth.signed_headers.iter().any(|n| n == "x-project-id"));
    }

    #[test]
    fn incomplete_pair_is_none() {
        let env = |k: &str| (k == "HUAWEICLOUD_SDK_AK").then(|| "AK".to_string());
        assert!(Credentials::from_env(env).is_none());
        let env = |k: &str| match k {
            "HUAWEICLOUD_SDK_AK" => Some("AK".to_string()),
            "HUAWEICLOUD_SDK_SK" => Some("SK".to_string()),
            "HUAWEICLOUD_SDK_SECURITY_TOKEN" => Some(" ".to_string()),
            _ => None,
        };
        let c = Credentials::from_env(env).unwrap();
        assert!(c.security_token.is_none());
    }
}
