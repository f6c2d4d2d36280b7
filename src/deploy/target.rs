//! What is being deployed: an uploaded certificate (with its fingerprint) or a Certificate
//! Manager certificate (by id).

use crate::secret::Secret;

/// The certificate a run puts on its domains.
#[derive(Debug, Clone)]
pub enum Target {
    /// A PEM chain and key, uploaded with each write.
    Pem {
        name: String,
        chain_pem: String,
        private_key: Secret,
        /// Lower-case hex SHA-256 of the leaf; how a domain is recognized as serving it.
        fingerprint: String,
    },
    /// A Certificate Manager certificate, referenced by id. Both write calls require a name
    /// with it: the request's `certificate_name`, else the id.
    Scm { id: String, name: String },
}

impl Target {
    /// The certificate name written to the CDN.
    pub fn name(&self) -> &str {
        match self {
            Target::Pem { name, .. } | Target::Scm { name, .. } => name,
        }
    }
}

/// The certificate fields of a write, the same for the per-domain and the batch call.
#[derive(Debug, Clone, Default)]
pub struct CertFields {
    /// `certificate_source` (per-domain) / `certificate_type` (batch): 0 uploaded, 2 SCM.
    pub source: i64,
    pub name: Option<String>,
    pub chain_pem: Option<String>,
    pub private_key: Option<Secret>,
    pub scm_certificate_id: Option<String>,
}

impl Target {
    /// What a write carries to put this certificate on a domain.
    pub fn fields(&self) -> CertFields {
        match self {
            Target::Pem {
                name,
                chain_pem,
                private_key,
                ..
            } => CertFields {
                source: crate::huawei::model::SOURCE_OWN,
                name: Some(name.clone()),
                chain_pem: Some(chain_pem.clone()),
                private_key: Some(private_key.clone()),
                scm_certificate_id: None,
            },
            Target::Scm { id, name } => CertFields {
                source: crate::huawei::model::SOURCE_SCM,
                name: Some(name.clone()),
                chain_pem: None,
                private_key: None,
                scm_certificate_id: Some(id.clone()),
            },
        }
    }
}
