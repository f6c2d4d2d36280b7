//! CSMS (Cloud Secret Management Service) ShowSecretVersion, served next to the CDN API and
//! signed the same way (SDK-HMAC-SHA256, checked by the gateway rules of `server.rs`):
//!
//! `GET /v1/{project_id}/secrets/{secret_name}/versions/{version_id}`, `version_id` being
//! `latest` or a version id (`v1`, `v2`, …). The answer follows huaweicloud-sdk-go-v3
//! `services/csms/v1/model` (`ShowSecretVersionResponse` → `Version` → `VersionMetadata`):
//!
//! ```json
//! {"version": {"version_metadata": {"id": "v1", "create_time": 1700000000000,
//!   "expire_time": null, "kms_key_id": "…", "secret_name": "…",
//!   "version_stages": ["SYSCURRENT"]}, "secret_string": "…"}}
//! ```
//!
//! Errors are `{"error_code", "error_msg"}` with the codes of the DEW error-code table where it
//! has one (see [`show_version`](SecretStore::show_version)).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::config::SimSecret;

/// The KMS key every version reports (CSMS encrypts with the account's default `csms/default`).
const KMS_KEY_ID: &str = "5b4e8f37-0000-4000-8000-00000000c5a5";

/// A CSMS error: HTTP status, `error_code`, `error_msg`.
pub type CsmsError = (u16, &'static str, String);

#[derive(Debug, Clone)]
struct SecretVersion {
    value: String,
    created_ms: i64,
}

#[derive(Debug, Clone, Default)]
struct Secret {
    /// Oldest first; the last one is `SYSCURRENT`, the one before `SYSPREVIOUS`.
    versions: Vec<SecretVersion>,
    denied: bool,
}

/// The account's secrets and the project id their paths must carry.
#[derive(Debug, Clone)]
pub struct SecretStore {
    project_id: String,
    secrets: BTreeMap<String, Secret>,
}

impl SecretStore {
    /// The seeded secrets, created at `now_unix`. A name seeded twice gets a second version.
    pub fn new(project_id: &str, seeds: &[SimSecret], now_unix: i64) -> Self {
        let mut store = Self {
            project_id: project_id.to_string(),
            secrets: BTreeMap::new(),
        };
        for s in seeds {
            store.put(&s.name, &s.value, now_unix);
            if s.denied {
                store.set_denied(&s.name, true);
            }
        }
        store
    }

    /// The project id CSMS paths must carry.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Adds a version holding `value` (it becomes `SYSCURRENT`), creating the secret if new.
    pub fn put(&mut self, name: &str, value: &str, now_unix: i64) {
        self.secrets
            .entry(name.to_string())
            .or_default()
            .versions
            .push(SecretVersion {
                value: value.to_string(),
                created_ms: now_unix.saturating_mul(1000),
            });
    }

    /// Makes reading `name` refused (403) or allowed again; no effect on an unknown name.
    pub fn set_denied(&mut self, name: &str, denied: bool) {
        if let Some(s) = self.secrets.get_mut(name) {
            s.denied = denied;
        }
    }

    /// ShowSecretVersion. Errors:
    /// - another project id: 400 `CSMS.0002` (the parameter is invalid);
    /// - no such secret: 404 `CSMS.0106` "The secret name not found int the db." (the DEW
    ///   table's code and text; it lists status 400, but the Terraform provider treats a
    ///   missing secret as a 404);
    /// - a denied secret: 403 `CSMS.0403`;
    /// - no such version: 404 `CSMS.0005` "The resource does not exist.".
    pub fn show_version(
        &self,
        project_id: &str,
        name: &str,
        version_id: &str,
    ) -> Result<Value, CsmsError> {
        if project_id != self.project_id {
            return Err((
                400,
                "CSMS.0002",
                format!("The value of parameter project_id is invalid: {project_id}"),
            ));
        }
        let secret = self.secrets.get(name).ok_or((
            404,
            "CSMS.0106",
            "The secret name not found int the db.".to_string(),
        ))?;
        if secret.denied {
            return Err((
                403,
                "CSMS.0403",
                format!("Forbidden: no permission csms:secret:getVersion on secret {name}"),
            ));
        }
        let last = secret.versions.len();
        let index = if version_id == "latest" {
            last.checked_sub(1)
        } else {
            version_id
                .strip_prefix('v')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=last).contains(n))
                .map(|n| n - 1)
        }
        .ok_or((404, "CSMS.0005", "The resource does not exist.".to_string()))?;
        let version = &secret.versions[index];
        let stages: Vec<&str> = if index + 1 == last {
            vec!["SYSCURRENT"]
        } else if index + 2 == last {
            vec!["SYSPREVIOUS"]
        } else {
            Vec::new()
        };
        Ok(json!({"version": {
            "version_metadata": {
                "id": format!("v{}", index + 1),
                "create_time": version.created_ms,
                "expire_time": null,
                "kms_key_id": KMS_KEY_ID,
                "secret_name": name,
                "version_stages": stages,
            },
            "secret_string": version.value,
        }}))
    }
}

/// The ShowSecretVersion call this is, as `(project_id, secret_name, version_id)` (decoded).
pub(super) fn route<'a>(method: &str, seg: &[&'a str]) -> Option<(&'a str, &'a str, &'a str)> {
    match (method, seg) {
        ("GET", ["v1", project, "secrets", name, "versions", version]) => {
            Some((project, name, version))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = "p1";

    fn store() -> SecretStore {
        SecretStore::new(
            PROJECT,
            &[
                SimSecret::new("cert", "pem-1"),
                SimSecret {
                    denied: true,
                    ..SimSecret::new("locked", "x")
                },
            ],
            1_700_000_000,
        )
    }

    #[test]
    fn latest_and_by_id() {
        let mut s = store();
        let v = s.show_version(PROJECT, "cert", "latest").unwrap();
        assert_eq!(v["version"]["secret_string"], "pem-1");
        let meta = &v["version"]["version_metadata"];
        assert_eq!(meta["id"], "v1");
        assert_eq!(meta["create_time"], 1_700_000_000_000i64);
        assert_eq!(meta["secret_name"], "cert");
        assert_eq!(meta["version_stages"], json!(["SYSCURRENT"]));
        assert!(meta["expire_time"].is_null());

        s.put("cert", "pem-2", 1_700_000_100);
        let v = s.show_version(PROJECT, "cert", "latest").unwrap();
        assert_eq!(v["version"]["secret_string"], "pem-2");
        assert_eq!(v["version"]["version_metadata"]["id"], "v2");
        let v1 = s.show_version(PROJECT, "cert", "v1").unwrap();
        assert_eq!(v1["version"]["secret_string"], "pem-1");
        assert_eq!(
            v1["version"]["version_metadata"]["version_stages"],
            json!(["SYSPREVIOUS"])
        );
    }

    #[test]
    fn errors() {
        let s = store();
        assert_eq!(
            s.show_version("other", "cert", "latest").unwrap_err().1,
            "CSMS.0002"
        );
        let missing = s.show_version(PROJECT, "nope", "latest").unwrap_err();
        assert_eq!((missing.0, missing.1), (404, "CSMS.0106"));
        let denied = s.show_version(PROJECT, "locked", "latest").unwrap_err();
        assert_eq!((denied.0, denied.1), (403, "CSMS.0403"));
        for v in ["v2", "v0", "x", ""] {
            let e = s.show_version(PROJECT, "cert", v).unwrap_err();
            assert_eq!((e.0, e.1), (404, "CSMS.0005"), "version {v}");
        }
    }

    #[test]
    fn routes_only_show_secret_version() {
        let seg = ["v1", "p", "secrets", "a b", "versions", "latest"];
        assert_eq!(route("GET", &seg), Some(("p", "a b", "latest")));
        assert_eq!(route("PUT", &seg), None);
        assert_eq!(route("GET", &seg[..5]), None);
    }
}
