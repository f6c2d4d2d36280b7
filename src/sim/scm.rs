//! Certificate Manager (SCM) ShowCertificate, served next to the CDN API and signed the same way
//! (SDK-HMAC-SHA256, checked by the gateway rules; a global service: no project header):
//!
//! `GET /v3/scm/certificates/{certificate_id}`. The answer carries the fields of the official
//! SDKs' `ShowCertificateResponse` (huaweicloud-sdk-go-v3 `services/scm/v3/model`) that describe
//! an issued certificate:
//!
//! ```json
//! {"id": "scs1700000000000", "name": "example-scm", "status": "ISSUED",
//!  "type": "DV_SSL_CERT", "domain_type": "MULTI_DOMAIN", "domain": "example.com",
//!  "sans": "*.example.com;www.example.com", "domain_count": 3, "wildcard_count": 1,
//!  "not_before": "2026-11-27 00:00:00.0", "not_after": "2027-02-25 23:59:59.0", ...}
//! ```
//!
//! Errors are `{"error_code", "error_msg"}`: an id it does not hold is 400 `SCM.0008`
//! ("Abnormal certificate ID", SCM's error-code table); a certificate configured `denied` is
//! 403 `SCM.0403`, as a missing IAM permission (`scm:cert:get`) is refused.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::config::SimScmCertificate;

/// An SCM error: HTTP status, `error_code`, `error_msg`.
pub type ScmError = (u16, &'static str, String);

/// The account's Certificate Manager certificates.
#[derive(Debug, Clone, Default)]
pub struct ScmStore {
    certificates: BTreeMap<String, SimScmCertificate>,
}

impl ScmStore {
    pub fn new(seeds: &[SimScmCertificate]) -> Self {
        let mut store = Self::default();
        for c in seeds {
            store.put(c.clone());
        }
        store
    }

    /// Adds (or replaces) a certificate.
    pub fn put(&mut self, certificate: SimScmCertificate) {
        self.certificates
            .insert(certificate.id.clone(), certificate);
    }

    /// Whether no certificate is configured (the CDN then takes any SCM id in a write).
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// Whether `id` is a certificate of the account.
    pub fn contains(&self, id: &str) -> bool {
        self.certificates.contains_key(id)
    }

    /// ShowCertificate of `id`.
    pub fn show(&self, id: &str) -> Result<Value, ScmError> {
        let c = self.certificates.get(id).ok_or((
            400,
            "SCM.0008",
            "Abnormal certificate ID".to_string(),
        ))?;
        if c.denied {
            return Err((
                403,
                "SCM.0403",
                format!("Policy doesn't allow scm:cert:get to be performed on {id}"),
            ));
        }
        let domain = c.names.first().cloned();
        let sans: Vec<&str> = c.names.iter().skip(1).map(String::as_str).collect();
        let wildcards = c.names.iter().filter(|n| n.starts_with("*.")).count();
        let domain_type = match (c.names.len(), wildcards) {
            (0 | 1, 0) => "SINGLE_DOMAIN",
            (1, _) => "WILDCARD",
            _ => "MULTI_DOMAIN",
        };
        Ok(json!({
            "id": c.id,
            "status": c.status,
            "order_id": null,
            "name": c.id,
            "type": "DV_SSL_CERT",
            "brand": "GLOBALSIGN",
            "push_support": "ON",
            "revoke_reason": null,
            "signature_algorithm": "SHA256WITHRSA",
            "issue_time": c.not_before.as_deref().map(scm_time),
            "not_before": c.not_before.as_deref().map(scm_time),
            "not_after": c.not_after.as_deref().map(scm_time),
            "validity_period": 12,
            "validation_method": "DNS",
            "domain_type": domain_type,
            "multi_domain_type": null,
            "domain": domain,
            "sans": if sans.is_empty() { Value::Null } else { json!(sans.join(";")) },
            "domain_count": c.names.len(),
            "wildcard_count": wildcards,
            "enterprise_project_id": "0",
            "authentification": [],
        }))
    }
}

/// A configured time (RFC 3339, or already SCM's `2027-02-25 23:59:59.0`) as SCM writes times.
fn scm_time(configured: &str) -> String {
    match crate::scm::parse_time(configured) {
        Some(unix) => {
            let t = time::OffsetDateTime::from_unix_timestamp(unix)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.0",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        None => configured.to_string(),
    }
}

/// The ShowCertificate call this is: its certificate id (decoded).
pub(super) fn route<'a>(method: &str, seg: &[&'a str]) -> Option<&'a str> {
    match (method, seg) {
        ("GET", ["v3", "scm", "certificates", id]) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_a_certificate_as_the_sdk_model_reads_it() {
        let s = ScmStore::new(&[SimScmCertificate {
            not_before: Some("2026-11-27T00:00:00Z".into()),
            ..SimScmCertificate::new(
                "scs1",
                &["example.com", "*.example.com", "www.example.com"],
                "2027-02-25T23:59:59Z",
            )
        }]);
        let v = s.show("scs1").unwrap();
        assert_eq!(v["domain"], "example.com");
        assert_eq!(v["sans"], "*.example.com;www.example.com");
        assert_eq!(v["domain_count"], 3);
        assert_eq!(v["wildcard_count"], 1);
        assert_eq!(v["not_after"], "2027-02-25 23:59:59.0");
        assert_eq!(v["not_before"], "2026-11-27 00:00:00.0");
        assert_eq!(v["status"], "ISSUED");
        let read: crate::scm::ShowCertificate = serde_json::from_value(v).unwrap();
        let facts = read.facts();
        assert_eq!(
            facts.subject_names,
            vec!["example.com", "*.example.com", "www.example.com"]
        );
        assert_eq!(facts.not_after.as_deref(), Some("2027-02-25T23:59:59Z"));
    }

    #[test]
    fn errors() {
        let s = ScmStore::new(&[SimScmCertificate {
            denied: true,
            ..SimScmCertificate::new("locked", &["a.example.com"], "2030-01-01T00:00:00Z")
        }]);
        let e = s.show("nope").unwrap_err();
        assert_eq!((e.0, e.1), (400, "SCM.0008"));
        let e = s.show("locked").unwrap_err();
        assert_eq!((e.0, e.1), (403, "SCM.0403"));
        assert!(s.contains("locked") && !s.is_empty());
    }

    #[test]
    fn routes_only_show_certificate() {
        let seg = ["v3", "scm", "certificates", "scs1"];
        assert_eq!(route("GET", &seg), Some("scs1"));
        assert_eq!(route("DELETE", &seg), None);
        assert_eq!(route("GET", &seg[..3]), None);
    }
}
