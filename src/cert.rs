//! Certificates and keys, checked before any API call: the PEM chain parses, the key matches the
//! leaf, the leaf is not expired, and each domain is covered by a name of the leaf. Pure: the
//! current time is passed in.

use crate::error::ErrorCode;
use base64::Engine as _;
use ring::signature::KeyPair as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::secret::Secret;

/// Why a certificate or key cannot be deployed. The whole request fails, before any API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("certificate: {0}")]
    InvalidCertificate(String),
    #[error("private_key: {0}")]
    InvalidKey(String),
    #[error("private_key does not match the leaf certificate{0}")]
    KeyMismatch(String),
    #[error("certificate expired on {0}")]
    Expired(String),
}

impl CertError {
    /// The result's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CertError::InvalidCertificate(_) | CertError::InvalidKey(_) => {
                ErrorCode::InvalidCertificate
            }
            CertError::KeyMismatch(_) => ErrorCode::KeyMismatch,
            CertError::Expired(_) => ErrorCode::CertificateExpired,
        }
    }

    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            CertError::InvalidKey(_) | CertError::KeyMismatch(_) => "private_key",
            _ => "certificate",
        }
    }
}

/// What the result says about the deployed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// Lower-case hex SHA-256 of the leaf's DER.
    pub sha256_fingerprint: String,
    /// The leaf's DNS names (SANs; the CN only when there is no SAN), lower-cased.
    pub subject_names: Vec<String>,
    /// RFC 3339, UTC.
    pub not_before: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    #[serde(skip)]
    pub not_after_unix: i64,
}

/// A validated certificate and key, ready to upload.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The chain re-encoded as clean PEM, leaf first, in the order sent.
    pub chain_pem: String,
    /// The chain's DER, as sent (for the trust check, which orders it).
    pub chain: Vec<Vec<u8>>,
    /// The key as given (trimmed).
    pub private_key: Secret,
    /// Facts about the leaf.
    pub leaf: CertificateInfo,
}

/// Parses every `CERTIFICATE` block of a PEM text into DER.
pub fn parse_chain(pem: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let mut ders = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block
            .map_err(|e| CertError::InvalidCertificate(format!("PEM does not parse ({e})")))?;
        if block.label == "CERTIFICATE" {
            ders.push(block.contents);
        }
    }
    if ders.is_empty() {
        return Err(CertError::InvalidCertificate(
            "no `-----BEGIN CERTIFICATE-----` block found".into(),
        ));
    }
    Ok(ders)
}

/// The most DNS names a deployed certificate may carry (public CAs issue at most a few hundred).
pub const MAX_NAMES: usize = 1000;

/// Reads the facts the result reports about one certificate.
pub fn inspect(der: &[u8]) -> Result<CertificateInfo, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertError::InvalidCertificate(format!("not an X.509 certificate ({e})")))?;
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                let d = d.to_ascii_lowercase();
                if seen.insert(d.clone()) {
                    names.push(d);
                }
            }
        }
    }
    if names.len() > MAX_NAMES {
        return Err(CertError::InvalidCertificate(format!(
            "the certificate names {} DNS names: at most {MAX_NAMES}",
            names.len()
        )));
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    Ok(CertificateInfo {
        sha256_fingerprint: hex::encode(Sha256::digest(der)),
        subject_names: names,
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        not_after_unix: not_after,
    })
}

/// The SHA-256 fingerprint of the first certificate of a PEM text, as a CDN returns it.
pub fn leaf_fingerprint(pem: &str) -> Option<String> {
    parse_chain(pem)
        .ok()
        .and_then(|c| c.into_iter().next())
        .map(|der| hex::encode(Sha256::digest(der)))
}

/// What a CDN's bulk read needs to know of the certificate a domain serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    /// Lower-case hex SHA-256 of the leaf.
    pub fingerprint: String,
    /// Unix seconds; `None` when the leaf does not parse as X.509.
    pub not_after: Option<i64>,
    /// The leaf's key is on the SM2 curve (national cryptography).
    pub sm2: bool,
}

/// The leaf's fingerprint, expiry and key type, from one parse of a PEM text.
pub fn leaf_facts(pem: &str) -> Option<LeafFacts> {
    let der = parse_chain(pem).ok()?.into_iter().next()?;
    let fingerprint = hex::encode(Sha256::digest(&der));
    let parsed = x509_parser::parse_x509_certificate(&der)
        .ok()
        .map(|(_, c)| c);
    Some(LeafFacts {
        fingerprint,
        not_after: parsed.as_ref().map(|c| c.validity().not_after.timestamp()),
        sm2: parsed.as_ref().is_some_and(|c| {
            let alg = &c.public_key().algorithm;
            let params = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
            alg.algorithm.to_id_string() == SM2_OID
                || params.is_some_and(|p| p.to_id_string() == SM2_OID)
        }),
    })
}

/// The OID of the SM2 curve (GB/T 33560), named in an SM2 key's algorithm or parameters.
pub(crate) const SM2_OID: &str = "1.2.156.10197.1.301";

/// When the first certificate of a PEM text expires (unix seconds).
pub fn leaf_not_after(pem: &str) -> Option<i64> {
    let der = parse_chain(pem).ok()?.into_iter().next()?;
    inspect(&der).ok().map(|leaf| leaf.not_after_unix)
}

/// Checks a certificate chain and its key at time `now` (unix seconds).
pub fn validate(certificate: &str, private_key: &Secret, now: i64) -> Result<Bundle, CertError> {
    let chain = parse_chain(certificate)?;
    let leaf = inspect(&chain[0])?;
    for (i, der) in chain.iter().enumerate().skip(1) {
        inspect(der).map_err(|e| match e {
            CertError::InvalidCertificate(m) => {
                CertError::InvalidCertificate(format!("block #{} of the chain: {m}", i + 1))
            }
            other => other,
        })?;
    }
    let key_public = key_public_bytes(private_key.expose())?;
    if spki_bits(&chain[0])? != key_public {
        let other = chain
            .iter()
            .skip(1)
            .position(|der| spki_bits(der).ok().as_deref() == Some(&key_public[..]));
        let hint = match other {
            Some(i) => format!(
                " (it matches block #{} of the chain: put the leaf first)",
                i + 2
            ),
            None => String::new(),
        };
        return Err(CertError::KeyMismatch(hint));
    }
    if now > leaf.not_after_unix {
        return Err(CertError::Expired(leaf.not_after.clone()));
    }
    Ok(Bundle {
        chain_pem: chain_to_pem(&chain),
        chain,
        private_key: Secret::new(private_key.expose().trim()),
        leaf,
    })
}

/// Whether a certificate name (`san`) covers a CDN domain, per RFC 6125: a wildcard stands for
/// exactly one whole left-most label, so `*.example.com` covers `a.example.com` but neither
/// `example.com` nor `a.b.example.com`. A CDN wildcard domain (`*.example.com`) is covered only by
/// the same wildcard name.
pub fn covers(san: &str, domain: &str) -> bool {
    let san = san.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if san == domain {
        return true;
    }
    let Some(base) = san.strip_prefix("*.") else {
        return false;
    };
    if domain.starts_with("*.") || base.contains('*') {
        return false;
    }
    match domain.split_once('.') {
        Some((first, rest)) => !first.is_empty() && !first.contains('*') && rest == base,
        None => false,
    }
}

/// Whether any of `names` covers `domain`.
pub fn covered_by(names: &[String], domain: &str) -> bool {
    names.iter().any(|n| covers(n, domain))
}

/// The certificate name used when the request gives none: the leaf's first name and its expiry
/// date, `*` written as `wildcard` (`example.com-20270226`), at most 64 characters.
pub fn derive_name(leaf: &CertificateInfo) -> String {
    let first = leaf
        .subject_names
        .first()
        .map(|n| n.replace('*', "wildcard"))
        .unwrap_or_else(|| "certificate".into());
    let date: String = leaf
        .not_after
        .chars()
        .filter(char::is_ascii_digit)
        .take(8)
        .collect();
    let max_first = 64 - 1 - date.len();
    let first: String = first.chars().take(max_first).collect();
    format!("{}-{date}", first.trim_end_matches(['.', '-']))
}

/// A unix time as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// A chain of DER certificates as PEM, in the given order.
pub fn chain_to_pem(chain: &[Vec<u8>]) -> String {
    chain.iter().map(|der| to_pem(der)).collect()
}

fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The subjectPublicKey bits of a certificate (RSAPublicKey DER, an EC point, or an Ed25519 key).
fn spki_bits(der: &[u8]) -> Result<Vec<u8>, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertError::InvalidCertificate(format!("not an X.509 certificate ({e})")))?;
    Ok(cert.public_key().subject_public_key.data.to_vec())
}

/// The public half of a private key, in the same encoding as a certificate's subjectPublicKey.
/// Accepts PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`).
fn key_public_bytes(pem: &str) -> Result<Vec<u8>, CertError> {
    let mut key = None;
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block =
            block.map_err(|e| CertError::InvalidKey(format!("PEM does not parse ({e})")))?;
        match block.label.as_str() {
            "EC PARAMETERS" => continue,
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                key = Some(block);
                break;
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(CertError::InvalidKey(
                    "encrypted keys are not supported: give the key unencrypted".into(),
                ))
            }
            other => {
                return Err(CertError::InvalidKey(format!(
                    "expected a private key block, found `{other}`"
                )))
            }
        }
    }
    let key = key.ok_or_else(|| {
        CertError::InvalidKey("no `-----BEGIN ... PRIVATE KEY-----` block found".into())
    })?;
    let der = &key.contents;
    let rng = ring::rand::SystemRandom::new();
    let ecdsa = |pkcs8: &[u8]| -> Option<Vec<u8>> {
        [
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ]
        .into_iter()
        .find_map(|alg| ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).ok())
        .map(|kp| kp.public_key().as_ref().to_vec())
    };
    let public = match key.label.as_str() {
        "RSA PRIVATE KEY" => ring::signature::RsaKeyPair::from_der(der)
            .map(|kp| kp.public_key().as_ref().to_vec())
            .map_err(|e| CertError::InvalidKey(format!("RSA key rejected ({e})")))?,
        "EC PRIVATE KEY" => [P256_OID, P384_OID]
            .into_iter()
            .find_map(|curve| ecdsa(&sec1_to_pkcs8(der, curve)))
            .ok_or_else(|| {
                CertError::InvalidKey(
                    "EC key rejected (P-256 and P-384 keys that carry their public key are supported)"
                        .into(),
                )
            })?,
        _ => {
            if let Ok(kp) = ring::signature::RsaKeyPair::from_pkcs8(der) {
                kp.public_key().as_ref().to_vec()
            } else if let Some(p) = ecdsa(der) {
                p
            } else if let Ok(kp) = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            {
                kp.public_key().as_ref().to_vec()
            } else {
                return Err(CertError::InvalidKey(
                    "PKCS#8 key rejected (supported: RSA 2048-8192 bits, EC P-256/P-384, Ed25519)"
                        .into(),
                ));
            }
        }
    };
    Ok(public)
}

/// DER of the named-curve OIDs, tag and length included.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Wraps a SEC1 `ECPrivateKey` into a PKCS#8 `PrivateKeyInfo` for `curve` (RFC 5915 / 5208).
fn sec1_to_pkcs8(sec1: &[u8], curve: &[u8]) -> Vec<u8> {
    let alg = der_tlv(0x30, &[EC_PUBLIC_KEY_OID, curve].concat());
    let body = [&[0x02, 0x01, 0x00][..], &alg, &der_tlv(0x04, sec1)].concat();
    der_tlv(0x30, &body)
}

/// One DER tag-length-value.
pub(crate) fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sm2_leaf_is_told_apart() {
        let sm2 = include_str!("../tests/fixtures/sm2-sign.pem");
        let facts = leaf_facts(sm2).unwrap();
        assert!(facts.sm2);
        assert!(facts.not_after.is_some());
        assert_eq!(Some(facts.fingerprint), leaf_fingerprint(sm2));
        let rsa = include_str!("../tests/fixtures/demo-leaf.pem");
        assert!(!leaf_facts(rsa).unwrap().sm2);
        assert_eq!(leaf_facts("not a pem"), None);
    }

    #[test]
    fn wildcard_rules_follow_rfc_6125() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "A.Example.com."));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("a.example.com", "*.example.com"));
        assert!(!covers("*.a.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "*.a.example.com"));
        assert!(covers("www.example.com", "www.example.com"));
        assert!(!covers("www.example.com", "img.example.com"));
        assert!(!covers("*.*.example.com", "a.b.example.com"));
    }

    #[test]
    fn derived_name_uses_first_name_and_expiry() {
        let info = CertificateInfo {
            sha256_fingerprint: String::new(),
            subject_names: vec!["*.example.com".into(), "example.com".into()],
            not_before: "2026-11-27T00:00:00Z".into(),
            not_after: "2027-02-26T00:00:00Z".into(),
            not_after_unix: 0,
        };
        assert_eq!(derive_name(&info), "wildcard.example.com-20270226");
        let long = CertificateInfo {
            subject_names: vec![format!("{}.example.com", "a".repeat(80))],
            ..info
        };
        assert!(derive_name(&long).len() <= 64);
        assert!(derive_name(&long).ends_with("-20270226"));
    }

    #[test]
    fn garbage_is_invalid_certificate() {
        let e = validate("hello", &Secret::new("x"), 0).unwrap_err();
        assert_eq!(e.code(), "invalid_certificate");
        assert_eq!(e.field(), "certificate");
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der_tlv(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der_tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
