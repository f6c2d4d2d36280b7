//! What is being deployed: an uploaded certificate (with its fingerprint) or a Certificate
//! Manager certificate (by id).

use crate::huawei::credential::Secret;

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
    /// A Certificate Manager certificate, referenced by id.
    Scm { id: String, name: Option<String> },
}

impl Target {
    /// The certificate name written to the CDN.
    pub fn name(&self) -> Option<&str> {
        match self {
            Target::Pem { name, .. } => Some(name),
            Target::Scm { name, .. } => name.as_deref(),
        }
    }
}
