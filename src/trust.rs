//! The trust check of a chain before any CDN call (SPEC section 6), and the chain as the CDN
//! should serve it. Pure: the chain's DER, the extra roots and the time come in; the ordered chain
//! and what was changed in it, or a typed error saying what is wrong and how to mend it, go out.
//!
//! A chain is trusted when it builds from the leaf to a public web root (Mozilla's set, as the
//! `webpki-roots` crate ships it) or to a root of `DEPLOY_TRUST_ROOTS`, verified with
//! `rustls-webpki` (the verifier rustls itself uses) for TLS servers: the leaf carries serverAuth
//! where it has an extended key usage, and every key sent is at least RSA 2048 or EC P-256.
//! `options.trust: "any"` skips the check, and the chain is still put in order.
//!
//! The order (RFC 8446 section 4.4.2 asks the sender for it): the leaf, its issuer, that one's
//! issuer, ... up to the root; then any other certificate sent (a cross-sign kept for old clients
//! stays, after the path). A self-signed root is left out (clients hold their own roots) and so
//! are exact duplicates.

use std::time::Duration;

use tokio_rustls::rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// What `options.trust` asks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trust {
    /// The chain must build to a trusted root (the default).
    #[default]
    Verify,
    /// `"any"`: the chain is not checked (it is still put in order).
    Any,
}

impl Trust {
    /// Reads `options.trust`: `"any"` is the only value a request may give.
    /// A value that is not a short word is not quoted back (it could be a key sent by mistake).
    pub fn parse(word: &str) -> Result<Self, String> {
        let word = word.trim();
        if word == "any" {
            return Ok(Self::Any);
        }
        let short = word.len() <= 16
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let shown = if short {
            format!("`{word}` is not \"any\"")
        } else {
            "the only value is \"any\"".to_string()
        };
        Err(format!(
            "{shown}: leave `trust` out to have the chain checked"
        ))
    }
}

/// Why a chain is not trusted. The whole request fails (`untrusted_chain`) before any CDN call;
/// each message says what is wrong and how to mend it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("self-signed leaf `{0}`: it vouches for itself and no browser trusts it: have it issued by a CA (a public one, or a private CA given in DEPLOY_TRUST_ROOTS), or set options.trust to \"any\" to deploy it unchecked")]
    SelfSignedLeaf(String),
    #[error("the leaf is for {0} only (its extended key usage has no serverAuth): browsers refuse it from a server: have a certificate issued for TLS servers (serverAuth)")]
    NotForServers(String),
    #[error("{key} in {whose}: at least RSA 2048 bits or EC P-256 are needed (browsers refuse weaker keys): issue a new certificate with a stronger key")]
    WeakKey { key: String, whose: String },
    #[error("intermediate missing: the chain ends at `{last}`, whose issuer `{issuer}` is not in it and is not a trusted root: send the full chain (the leaf, then each intermediate your CA gave you)")]
    IntermediateMissing { last: String, issuer: String },
    #[error("chain builds to `{0}`, which is not a trusted root: add it to DEPLOY_TRUST_ROOTS for a private CA, or send a chain of a public CA")]
    UntrustedRoot(String),
    #[error("the chain does not verify: {0}")]
    Invalid(String),
}

impl TrustError {
    /// The result's error code.
    pub fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::UntrustedChain
    }
}

/// Roots trusted besides the public web roots: `DEPLOY_TRUST_ROOTS`, for a private CA.
#[derive(Clone, Default)]
pub struct TrustRoots {
    anchors: Vec<TrustAnchor<'static>>,
    names: Vec<String>,
}

/// The roots by name (they are public certificates, but a list of bytes tells nobody anything).
impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TrustRoots").field(&self.names).finish()
    }
}

impl TrustRoots {
    /// Reads every `CERTIFICATE` block of a PEM text as a root.
    pub fn parse(pem: &str) -> Result<Self, String> {
        let mut roots = Self::default();
        for (i, block) in Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
            let block = block.map_err(|e| format!("PEM does not parse ({e})"))?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            let der = CertificateDer::from(block.contents.as_slice());
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| format!("certificate #{} is not a usable root ({e})", i + 1))?;
            roots.names.push(name_of(&block.contents));
            roots.anchors.push(anchor.to_owned());
        }
        if roots.anchors.is_empty() {
            return Err("no `-----BEGIN CERTIFICATE-----` block found".into());
        }
        Ok(roots)
    }

    /// The roots' names (their common names, or their whole names when they have none).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `anchor` is one of these roots.
    fn holds(&self, anchor: &TrustAnchor<'_>) -> bool {
        self.anchors.iter().any(|a| {
            a.subject == anchor.subject
                && a.subject_public_key_info == anchor.subject_public_key_info
        })
    }
}

/// A chain as the CDN should serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// DER, leaf first, then the path, then the other certificates sent.
    pub chain: Vec<Vec<u8>>,
    /// How the chain was judged (`verified: builds to ...`, `not checked (options.trust: any)`).
    pub trust: String,
    /// What was changed from the chain as sent (reordered, left out); empty when nothing.
    pub notes: Vec<String>,
}

/// What `trust` says when the check was skipped.
pub const NOT_CHECKED: &str = "not checked (options.trust: any)";

/// Checks a chain (DER, leaf first, as sent) at `now` (unix seconds) against the public web roots
/// and `roots`, and puts it in the order the CDN should serve it. With [`Trust::Any`] only the
/// order is made.
pub fn serve(
    chain: &[Vec<u8>],
    roots: &TrustRoots,
    trust: Trust,
    now: i64,
) -> Result<Served, TrustError> {
    let (sent, mut notes) = dedupe(chain);
    let facts = sent
        .iter()
        .map(|der| Facts::read(der))
        .collect::<Result<Vec<_>, _>>()?;
    let (path, judged) = match trust {
        Trust::Any => (walk(&facts, |_| false), NOT_CHECKED.to_string()),
        Trust::Verify => {
            check_keys(chain)?;
            check_leaf(&facts[0])?;
            verify(&sent, &facts, roots, now)?
        }
    };
    let (order, left_out) = arrange(&facts, &path);
    if order.windows(2).any(|w| w[0] > w[1]) {
        let names = |ix: &mut dyn Iterator<Item = usize>| -> String {
            ix.map(|i| format!("`{}`", facts[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut as_sent: Vec<usize> = order.clone();
        as_sent.sort_unstable();
        notes.push(format!(
            "reordered: sent as {}; written leaf first, then each issuer: {}",
            names(&mut as_sent.into_iter()),
            names(&mut order.iter().copied())
        ));
    }
    notes.extend(left_out);
    Ok(Served {
        chain: order.iter().map(|&i| sent[i].to_vec()).collect(),
        trust: judged,
        notes,
    })
}

/// The chain without exact duplicates (the first of each kept), and a note for each left out.
fn dedupe(chain: &[Vec<u8>]) -> (Vec<&[u8]>, Vec<String>) {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut notes = Vec::new();
    for der in chain {
        if kept.contains(&der.as_slice()) {
            notes.push(format!("left out a duplicate of `{}`", name_of(der)));
        } else {
            kept.push(der);
        }
    }
    (kept, notes)
}

/// What the check reads of one certificate.
struct Facts {
    /// The subject and issuer names as DER, tag included.
    subject: Vec<u8>,
    issuer: Vec<u8>,
    name: String,
    issuer_name: String,
    /// Subject and issuer are the same name: a root (or a self-signed leaf).
    self_issued: bool,
    /// What the extended key usage allows, when the certificate has one.
    eku: Option<Vec<&'static str>>,
    not_before: i64,
    not_after: i64,
}

impl Facts {
    fn read(der: &[u8]) -> Result<Self, TrustError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| TrustError::Invalid(format!("not an X.509 certificate ({e})")))?;
        let eku = cert.extended_key_usage().ok().flatten().map(|ext| {
            let u = ext.value;
            let named = [
                (u.server_auth, "serverAuth"),
                (u.client_auth, "clientAuth"),
                (u.code_signing, "codeSigning"),
                (u.email_protection, "emailProtection"),
                (u.time_stamping, "timeStamping"),
                (u.ocsp_signing, "OCSPSigning"),
                (u.any, "anyExtendedKeyUsage"),
                (!u.other.is_empty(), "other purposes"),
            ];
            named
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| *n)
                .collect()
        });
        Ok(Self {
            subject: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            name: cert_name(&cert),
            issuer_name: display_name(cert.issuer()),
            self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
            eku,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// A name as a person reads it: its common name, else the whole name.
fn display_name(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| name.to_string())
}

/// A certificate's name as a person reads it: its common name, else its first DNS name (a
/// leaf with an empty subject), else its whole subject.
fn cert_name(cert: &X509Certificate<'_>) -> String {
    if cert.subject().iter_common_name().next().is_none() {
        let dns = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .and_then(|san| {
                san.value.general_names.iter().find_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
            });
        if let Some(d) = dns {
            return d;
        }
    }
    display_name(cert.subject())
}

/// [`cert_name`] of a certificate's DER, or a placeholder when it does not parse.
fn name_of(der: &[u8]) -> String {
    X509Certificate::from_der(der)
        .map(|(_, c)| cert_name(&c))
        .unwrap_or_else(|_| "an unreadable certificate".into())
}

/// Refuses a weak key in any certificate sent, the leaf's first; a self-signed root is left out
/// of what is served, so its key is not judged. Only the certificates' public keys are read, so
/// this can run before the private key is parsed (which refuses RSA under 2048 bits with a less
/// helpful message).
pub fn check_keys(chain: &[Vec<u8>]) -> Result<(), TrustError> {
    for (i, der) in chain.iter().enumerate() {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            continue;
        };
        if i > 0 && cert.subject().as_raw() == cert.issuer().as_raw() {
            continue;
        }
        if let Some(key) = weak_key(&cert) {
            let name = cert_name(&cert);
            let whose = match i {
                0 => format!("the leaf `{name}`"),
                _ => format!("`{name}` (block #{} of the chain)", i + 1),
            };
            return Err(TrustError::WeakKey { key, whose });
        }
    }
    Ok(())
}

/// What is wrong with a certificate's key, when something is: RSA under 2048 bits, an EC curve
/// other than P-256, P-384 or P-521, or a kind of key browsers do not take.
fn weak_key(cert: &X509Certificate<'_>) -> Option<String> {
    const P256: &str = "1.2.840.10045.3.1.7";
    const P384: &str = "1.3.132.0.34";
    const P521: &str = "1.3.132.0.35";
    const ED25519: &str = "1.3.101.112";
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() < 2048 => {
            Some(format!("RSA {}-bit key", rsa.key_size()))
        }
        Ok(PublicKey::RSA(_)) => None,
        Ok(PublicKey::EC(_)) => match curve.as_deref() {
            Some(P256 | P384 | P521) => None,
            Some(crate::cert::SM2_OID) => Some("SM2 key (an SM certificate)".into()),
            other => Some(format!("EC key on curve {}", other.unwrap_or("(unnamed)"))),
        },
        _ if alg == ED25519 => None,
        _ => Some(format!("key of algorithm {alg}")),
    }
}

/// Refuses a leaf that cannot serve TLS: one that signed itself, or whose extended key usage
/// lacks serverAuth.
fn check_leaf(leaf: &Facts) -> Result<(), TrustError> {
    if leaf.self_issued {
        return Err(TrustError::SelfSignedLeaf(leaf.name.clone()));
    }
    match &leaf.eku {
        Some(usages) if !usages.contains(&"serverAuth") => {
            let usages = match usages.as_slice() {
                [] => "no purpose".to_string(),
                list => list.join(", "),
            };
            Err(TrustError::NotForServers(usages))
        }
        _ => Ok(()),
    }
}

/// Verifies the chain with webpki against the public web roots and `roots`: the path (indices
/// into `sent`, leaf first) and how it was judged, or what is wrong.
fn verify(
    sent: &[&[u8]],
    facts: &[Facts],
    roots: &TrustRoots,
    now: i64,
) -> Result<(Vec<usize>, String), TrustError> {
    let leaf_der = CertificateDer::from(sent[0]);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| TrustError::Invalid(format!("the leaf: {e}")))?;
    let others: Vec<CertificateDer<'_>> =
        sent[1..].iter().map(|d| CertificateDer::from(*d)).collect();
    let anchors: Vec<TrustAnchor<'_>> = webpki_roots::TLS_SERVER_ROOTS
        .iter()
        .cloned()
        .chain(roots.anchors.iter().cloned())
        .collect();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(now.max(0) as u64));
    let verified = leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &others,
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    let path = match verified {
        Ok(path) => path,
        Err(e) => return Err(diagnose(facts, &anchors, now, &e)),
    };
    let mut order = vec![0];
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        if let Some(i) = sent.iter().position(|d| *d == der.as_ref()) {
            order.push(i);
        }
    }
    let anchor = path.anchor();
    let which = if roots.holds(anchor) {
        "DEPLOY_TRUST_ROOTS"
    } else {
        "public web roots"
    };
    let judged = format!("verified: builds to `{}` ({which})", anchor_name(anchor));
    Ok((order, judged))
}

/// The name of a trust anchor (its subject is the Name's content, without the SEQUENCE tag).
fn anchor_name(anchor: &TrustAnchor<'_>) -> String {
    let der = crate::cert::der_tlv(0x30, anchor.subject.as_ref());
    X509Name::from_der(&der)
        .map(|(_, n)| display_name(&n))
        .unwrap_or_else(|_| "a trusted root".into())
}

/// The path by names from the leaf: each certificate's issuer among those sent (one that is not
/// itself a root first, so that a cross-sign extends the path), until a root, a certificate whose
/// issuer was not sent, or `stop` says the path is done. Indices into `facts`, leaf first.
fn walk(facts: &[Facts], stop: impl Fn(&Facts) -> bool) -> Vec<usize> {
    let mut path = vec![0];
    let mut cur = 0;
    while !facts[cur].self_issued && !stop(&facts[cur]) {
        let candidates = || {
            (0..facts.len()).filter(|j| !path.contains(j) && facts[*j].subject == facts[cur].issuer)
        };
        let next = candidates()
            .find(|j| !facts[*j].self_issued)
            .or_else(|| candidates().next());
        match next {
            Some(j) => {
                path.push(j);
                cur = j;
            }
            None => break,
        }
    }
    path
}

/// What to serve: the path, then every other certificate sent in the order sent, less the
/// self-signed roots (each named in a note). Indices into `facts`.
fn arrange(facts: &[Facts], path: &[usize]) -> (Vec<usize>, Vec<String>) {
    let mut order: Vec<usize> = Vec::with_capacity(facts.len());
    let mut notes = Vec::new();
    let mut left_out = |i: usize| {
        notes.push(format!(
            "left out the self-signed root `{}` (clients hold their own roots)",
            facts[i].name
        ))
    };
    for &i in path {
        if i > 0 && facts[i].self_issued {
            left_out(i);
        } else {
            order.push(i);
        }
    }
    for (i, fact) in facts.iter().enumerate().skip(1) {
        if path.contains(&i) {
            continue;
        }
        if fact.self_issued {
            left_out(i);
        } else {
            order.push(i);
        }
    }
    (order, notes)
}

/// Why webpki refused a chain, told from the chain itself where it can be: where the path by
/// names ends (a missing intermediate, an untrusted root), or which certificate is out of date;
/// otherwise webpki's reason in words.
fn diagnose(
    facts: &[Facts],
    anchors: &[TrustAnchor<'_>],
    now: i64,
    error: &webpki::Error,
) -> TrustError {
    let anchored = |f: &Facts| {
        anchors
            .iter()
            .any(|a| crate::cert::der_tlv(0x30, a.subject.as_ref()) == f.issuer)
    };
    let path = walk(facts, anchored);
    let end = &facts[*path.last().unwrap_or(&0)];
    if !anchored(end) {
        if end.self_issued {
            return TrustError::UntrustedRoot(end.name.clone());
        }
        return TrustError::IntermediateMissing {
            last: end.name.clone(),
            issuer: end.issuer_name.clone(),
        };
    }
    if let Some(f) = path
        .iter()
        .map(|&i| &facts[i])
        .find(|f| now < f.not_before || now > f.not_after)
    {
        return TrustError::Invalid(format!(
            "`{}` is valid only from {} to {}: send its current version",
            f.name,
            crate::cert::rfc3339(f.not_before),
            crate::cert::rfc3339(f.not_after)
        ));
    }
    TrustError::Invalid(reason(error, end))
}

/// webpki's reason in words, for the refusals [`diagnose`] cannot tell from names and dates.
fn reason(error: &webpki::Error, end: &Facts) -> String {
    use webpki::Error as E;
    match error {
        E::CaUsedAsEndEntity => "the leaf is a CA certificate (basicConstraints CA:TRUE): a server needs an end-entity certificate".into(),
        E::RequiredEkuNotFoundContext(_) => {
            "an intermediate's extended key usage has no serverAuth: it may not issue TLS server certificates".into()
        }
        E::InvalidSignatureForPublicKey | E::UnknownIssuer => format!(
            "`{}` names `{}` as its issuer, but no certificate of that name sent or trusted signed it: send the chain your CA gave you",
            end.name, end.issuer_name
        ),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate of the chain is signed with an algorithm browsers refuse (SHA-1, or an unsupported key): have it reissued".into()
        }
        E::NameConstraintViolation => "the leaf's names are outside what its CA may issue for (name constraints)".into(),
        E::CertDistrusted => "the chain builds to a CA that browsers no longer trust: have the certificate reissued by another CA".into(),
        E::PathLenConstraintViolated | E::MaximumPathDepthExceeded => "the chain is longer than its CAs allow".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real public chain (testssl.kamusm.gov.tr and its intermediate; webpki-roots' own test
    /// data, see tests/fixtures/README.md).
    const PUBLIC: &str = include_str!("../tests/fixtures/public-kamusm-chain.pem");
    /// 2017-05-01, inside the leaf's validity (2017-03-07 to 2020-03-06).
    const PUBLIC_NOW: i64 = 1_493_668_479;

    fn ders(pem: &str) -> Vec<Vec<u8>> {
        crate::cert::parse_chain(pem).unwrap()
    }

    #[test]
    fn a_public_chain_verifies_against_the_shipped_roots() {
        let chain = ders(PUBLIC);
        let s = serve(&chain, &TrustRoots::default(), Trust::Verify, PUBLIC_NOW).unwrap();
        assert_eq!(s.chain, chain);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        assert_eq!(
            s.trust,
            "verified: builds to `TUBITAK Kamu SM SSL Kok Sertifikasi - Surum 1` (public web roots)"
        );
        // Out of its validity, the same chain is refused, naming the certificate.
        let e = serve(
            &chain,
            &TrustRoots::default(),
            Trust::Verify,
            PUBLIC_NOW + 5 * 365 * 86_400,
        )
        .unwrap_err();
        assert!(e.to_string().contains("is valid only from"), "{e}");
    }

    #[test]
    fn a_public_leaf_alone_lacks_its_intermediate() {
        let chain = ders(PUBLIC);
        let e = serve(
            &chain[..1],
            &TrustRoots::default(),
            Trust::Verify,
            PUBLIC_NOW,
        )
        .unwrap_err();
        assert_eq!(
            e,
            TrustError::IntermediateMissing {
                last: "testssl.kamusm.gov.tr".into(),
                issuer: "TUBITAK Kamu SM SSL Sertifika Hizmet Saglayicisi - Surum 1".into(),
            }
        );
        assert_eq!(e.code(), "untrusted_chain");
    }

    #[test]
    fn duplicates_are_left_out_and_named() {
        let chain = ders(PUBLIC);
        let twice = vec![chain[0].clone(), chain[1].clone(), chain[1].clone()];
        let s = serve(&twice, &TrustRoots::default(), Trust::Verify, PUBLIC_NOW).unwrap();
        assert_eq!(s.chain, chain);
        assert_eq!(
            s.notes,
            vec!["left out a duplicate of `TUBITAK Kamu SM SSL Sertifika Hizmet Saglayicisi - Surum 1`"]
        );
    }

    #[test]
    fn the_demo_chain_needs_its_root_configured() {
        let chain = ders(&format!(
            "{}{}",
            include_str!("../tests/fixtures/demo-leaf.pem"),
            include_str!("../tests/fixtures/demo-ca.pem")
        ));
        let now = 1_798_761_600; // 2027-01-01
        let e = serve(&chain, &TrustRoots::default(), Trust::Verify, now).unwrap_err();
        assert_eq!(
            e,
            TrustError::UntrustedRoot("cdn-cert-deploy Demo CA".into())
        );
        let roots = TrustRoots::parse(include_str!("../tests/fixtures/demo-ca.pem")).unwrap();
        assert_eq!(roots.names(), ["cdn-cert-deploy Demo CA"]);
        let s = serve(&chain, &roots, Trust::Verify, now).unwrap();
        assert_eq!(s.chain, chain[..1]);
        assert_eq!(
            s.notes,
            vec!["left out the self-signed root `cdn-cert-deploy Demo CA` (clients hold their own roots)"]
        );
        assert!(s.trust.ends_with("(DEPLOY_TRUST_ROOTS)"), "{}", s.trust);
        // Unchecked, the root is left out all the same.
        let s = serve(&chain, &TrustRoots::default(), Trust::Any, now).unwrap();
        assert_eq!((s.chain.len(), s.trust.as_str()), (1, NOT_CHECKED));
    }

    #[test]
    fn trust_words() {
        assert_eq!(Trust::parse("any"), Ok(Trust::Any));
        assert!(Trust::parse("none").unwrap_err().contains("`none`"));
        assert!(TrustRoots::parse("nothing here").is_err());
    }
}
