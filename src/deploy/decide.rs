//! The pure decisions of a domain's deployment: after reading it, write or not; what to write so
//! nothing the user did not ask to change is lost; after polling it, done or not; how long to
//! wait before the next poll or retry.

use std::time::Duration;

use serde_json::Value;

use super::job::{Incoming, Job};
use super::settings::{self, BatchKey, Change, Overrides};
use super::target::Target;
use crate::cert::{covered_by, inspect, leaf_fingerprint, leaf_not_after, parse_chain};
use crate::huawei::error::ErrorKind;
use crate::huawei::model::{
    BatchHttps, BatchPut, Configs, ConfigsPut, DomainStatus, ForceRedirect, HttpsGet, HttpsPut,
    SOURCE_OWN, SOURCE_SCM,
};

/// Whether a domain's https block already serves `target`: HTTPS on and the same leaf
/// fingerprint (uploaded certificates) or the same Certificate Manager id.
pub fn serves(https: Option<&HttpsGet>, target: &Target) -> bool {
    let Some(h) = https else { return false };
    if h.https_status.as_deref() != Some("on") {
        return false;
    }
    match target {
        Target::Pem { fingerprint, .. } => {
            h.certificate_source.unwrap_or(SOURCE_OWN) != SOURCE_SCM
                && h.certificate_value
                    .as_deref()
                    .and_then(leaf_fingerprint)
                    .is_some_and(|f| &f == fingerprint)
        }
        Target::Scm { id, .. } => {
            h.certificate_source == Some(SOURCE_SCM) && h.scm_certificate_id.as_deref() == Some(id)
        }
    }
}

/// When the certificate a domain serves expires (unix seconds), from its https block: the
/// certificate itself, else the CDN's `expire_time`; `None` when HTTPS is off.
pub fn served_not_after(h: &HttpsGet) -> Option<i64> {
    if h.https_status.as_deref() != Some("on") {
        return None;
    }
    h.certificate_value
        .as_deref()
        .and_then(leaf_not_after)
        .or(h.expire_time.map(|ms| ms / 1000))
}

/// The expiry (unix seconds) of the certificate a domain serves when it is newer than the one
/// being deployed: HTTPS on, a certificate whose names cover every name of `incoming`, and a
/// later expiry. Replacing it would give the domain nothing and take time away. `None` when
/// it is not, or when the served certificate cannot be read (nothing is assumed).
pub fn newer_live(https: Option<&HttpsGet>, incoming: &Incoming) -> Option<i64> {
    let h = https.filter(|h| h.https_status.as_deref() == Some("on"))?;
    let der = parse_chain(h.certificate_value.as_deref()?)
        .ok()?
        .into_iter()
        .next()?;
    let served = inspect(&der).ok()?;
    let same_names = incoming
        .names
        .iter()
        .all(|n| covered_by(&served.subject_names, n));
    (same_names && served.not_after_unix > incoming.not_after).then_some(served.not_after_unix)
}

/// What to do after reading a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Online and already serving the certificate: nothing to write.
    Unchanged,
    /// `configuring` another change: wait for it to settle, then read again.
    WaitUntilSettled,
    /// Write the certificate.
    Write,
    /// The domain cannot take a certificate now (offline, being checked or deleted).
    Unavailable(String),
}

/// Decides from a fresh read.
pub fn after_read(
    status: &DomainStatus,
    https: Option<&HttpsGet>,
    target: &Target,
    force: bool,
) -> Decision {
    match status {
        DomainStatus::Configuring => Decision::WaitUntilSettled,
        DomainStatus::Offline
        | DomainStatus::Checking
        | DomainStatus::CheckFailed
        | DomainStatus::Deleting => Decision::Unavailable(format!(
            "the domain is `{}`; a certificate can be deployed once it is online",
            status.as_str()
        )),
        DomainStatus::Online if !force && serves(https, target) => Decision::Unchanged,
        // configure_failed with our certificate: the earlier attempt failed, so write again.
        DomainStatus::Online | DomainStatus::ConfigureFailed => Decision::Write,
        DomainStatus::Other(_) => Decision::WaitUntilSettled,
    }
}

/// The step after a domain's full read (its status and configuration), in order: a write whose
/// answer was lost that shows in the read was applied after all; then [`after_read`]; a domain
/// serving an SM pair is left alone (writing would remove it, and its key cannot be read back);
/// a domain serving a newer certificate for the same names is left alone unless forced; a dry
/// run stops with what it would write.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadStep {
    AppliedAfterAll,
    Unchanged,
    Unavailable(String),
    Settle,
    SmInUse,
    /// The domain serves a certificate for the same names that expires later (unix seconds).
    NewerLive(i64),
    Planned(HttpsPut),
    Write(HttpsPut),
}

/// Decides the step after a full read; `maybe_written` says a write of this run may have been
/// applied (its answer was lost).
pub fn after_full_read(
    maybe_written: bool,
    status: &DomainStatus,
    https: Option<&HttpsGet>,
    job: &Job,
) -> ReadStep {
    let target = &job.target;
    if maybe_written && serves(https, target) {
        return ReadStep::AppliedAfterAll;
    }
    match after_read(status, https, target, job.force) {
        Decision::Unchanged => return ReadStep::Unchanged,
        Decision::Unavailable(why) => return ReadStep::Unavailable(why),
        Decision::WaitUntilSettled => return ReadStep::Settle,
        Decision::Write => {}
    }
    if settings::sm_in_use(https) {
        return ReadStep::SmInUse;
    }
    let newer = job.incoming.as_ref().and_then(|i| newer_live(https, i));
    if let Some(served) = newer.filter(|_| !job.force) {
        return ReadStep::NewerLive(served);
    }
    let put = https_put(https, target, &job.overrides);
    if job.dry_run {
        ReadStep::Planned(put)
    } else {
        ReadStep::Write(put)
    }
}

/// The https block to write: the new certificate, and the domain's current HTTP/2, TLS versions
/// and OCSP stapling unless the request overrides them (the CDN resets what the block omits).
pub fn https_put(current: Option<&HttpsGet>, target: &Target, overrides: &Overrides) -> HttpsPut {
    let switch = |b: bool| if b { "on" } else { "off" }.to_string();
    let keep = |o: Option<bool>, cur: Option<&String>| o.map(switch).or_else(|| cur.cloned());
    let cur = current.cloned().unwrap_or_default();
    let mut put = HttpsPut {
        https_status: "on".into(),
        certificate_type: "server".into(),
        http2_status: keep(overrides.http2, cur.http2_status.as_ref()),
        tls_version: overrides
            .tls_version
            .clone()
            .or_else(|| cur.tls_version.clone()),
        ocsp_stapling_status: keep(overrides.ocsp_stapling, cur.ocsp_stapling_status.as_ref()),
        ..Default::default()
    };
    let f = target.fields();
    put.certificate_source = f.source;
    put.certificate_name = f.name;
    put.certificate_value = f.chain_pem;
    put.private_key = f.private_key;
    put.scm_certificate_id = f.scm_certificate_id;
    put
}

/// The batch body writing `target` onto `domains` with the group's settings: every setting the
/// call carries is sent (it resets what it is not sent), and the redirect in both of its fields.
pub fn batch_put(domains: &[String], key: &BatchKey, target: &Target) -> BatchPut {
    let mut https = BatchHttps {
        domain_name: domains.join(","),
        https_switch: 1,
        access_origin_way: key.origin.access_origin_way(),
        http2: i64::from(key.http2),
        force_redirect_https: i64::from(key.redirect_to_https),
        force_redirect_config: key.redirect_config(),
        ..Default::default()
    };
    let f = target.fields();
    https.certificate_type = f.source;
    https.cert_name = f.name;
    https.certificate = f.chain_pem;
    https.private_key = f.private_key;
    https.scm_certificate_id = f.scm_certificate_id;
    BatchPut { https }
}

/// A per-domain write (UpdateDomainFullConfig): the https block, and every other block the
/// domain's full read showed, each mapped field by field from the SDK's GET model to its PUT
/// model, so that nothing the call could reset is left unsent.
#[derive(Debug, Clone, PartialEq)]
pub struct FullPut {
    pub https: HttpsPut,
    pub origin_protocol: Option<String>,
    pub force_redirect: Option<ForceRedirect>,
    pub https_tls_version: Option<Value>,
    pub hsts: Option<Value>,
    pub quic: Option<Value>,
    pub sni: Option<Value>,
    pub client_cert: Option<Value>,
}

impl FullPut {
    /// The `configs` of the write.
    pub fn configs(&self) -> ConfigsPut<'_> {
        ConfigsPut {
            https: Some(&self.https),
            origin_protocol: self.origin_protocol.as_deref(),
            force_redirect: self.force_redirect.as_ref(),
            https_tls_version: self.https_tls_version.as_ref(),
            hsts: self.hsts.as_ref(),
            quic: self.quic.as_ref(),
            sni: self.sni.as_ref(),
            client_cert: self.client_cert.as_ref(),
        }
    }
}

/// The fields of the PUT models (`Hsts`, `Quic`, `Sni`, `ClientCert`, `HttpsTlsVersion` in the
/// SDK); a GET block's other fields are read-only.
const HSTS_FIELDS: [&str; 3] = ["status", "max_age", "include_subdomains"];
const QUIC_FIELDS: [&str; 1] = ["status"];
const SNI_FIELDS: [&str; 2] = ["status", "server_name"];
const CLIENT_CERT_FIELDS: [&str; 3] = ["status", "trusted_cert", "hosts"];
const TLS_FIELDS: [&str; 3] = ["tls_version", "cipher_suite_group", "cipher_suite"];

/// A GET block as its PUT model takes it.
fn put_block(block: Option<&Value>, fields: &[&str]) -> Option<Value> {
    let Value::Object(m) = block? else {
        return None;
    };
    let kept: serde_json::Map<String, Value> = m
        .iter()
        .filter(|(k, v)| fields.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then_some(Value::Object(kept))
}

/// The per-domain write of `https` (the new certificate, decided by [`https_put`]) carrying every
/// other setting `configs` holds. TLS versions found only in `https_tls_version` are kept, and
/// both places are sent the same versions.
pub fn full_put(configs: &Configs, mut https: HttpsPut) -> FullPut {
    if https.tls_version.is_none() {
        https.tls_version = settings::tls_to_keep(configs);
    }
    let mut tls_block = put_block(configs.https_tls_version.as_ref(), &TLS_FIELDS);
    if let (Some(Value::Object(b)), Some(tls)) = (tls_block.as_mut(), &https.tls_version) {
        b.insert("tls_version".into(), Value::from(tls.as_str()));
    }
    FullPut {
        https,
        origin_protocol: configs.origin_protocol.clone(),
        force_redirect: configs.force_redirect.clone(),
        https_tls_version: tls_block,
        hsts: put_block(configs.hsts.as_ref(), &HSTS_FIELDS),
        quic: put_block(configs.quic.as_ref(), &QUIC_FIELDS),
        sni: put_block(configs.sni.as_ref(), &SNI_FIELDS),
        client_cert: put_block(configs.client_cert.as_ref(), &CLIENT_CERT_FIELDS),
    }
}

/// The write that puts back what a write changed: the domain's settings as `before` read them,
/// with the certificate now served, and an explicit default for each changed setting `before`
/// did not carry (an absent block and its default are one value).
pub fn restore_put(before: &Configs, changed: &[Change], https: HttpsPut) -> FullPut {
    let mut put = full_put(before, https);
    let off = || Some(serde_json::json!({"status": "off"}));
    for c in changed {
        match c.setting {
            "hsts" if put.hsts.is_none() => put.hsts = off(),
            "quic" if put.quic.is_none() => put.quic = off(),
            "origin_sni" if put.sni.is_none() => put.sni = off(),
            "client_cert" if put.client_cert.is_none() => put.client_cert = off(),
            "cipher_suites" if put.https_tls_version.is_none() => {
                put.https_tls_version = Some(serde_json::json!({"cipher_suite_group": "default"}))
            }
            "tls_version" if put.https.tls_version.is_none() => {
                put.https.tls_version = Some(settings::DEFAULT_TLS.into())
            }
            "ocsp_stapling" if put.https.ocsp_stapling_status.is_none() => {
                put.https.ocsp_stapling_status = Some("off".into())
            }
            "force_redirect" | "redirect_code" if put.force_redirect.is_none() => {
                put.force_redirect = Some(ForceRedirect {
                    status: Some("off".into()),
                    ..Default::default()
                })
            }
            "origin_protocol" if put.origin_protocol.is_none() => {
                put.origin_protocol = Some("http".into())
            }
            _ => {}
        }
    }
    put
}

/// What a poll after the write says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Online and serving the new certificate.
    Deployed,
    /// The CDN gave up on the change.
    ConfigureFailed,
    /// Not there yet.
    Waiting,
}

/// Judges a poll. A domain is deployed only when its own status reads `online` and its own https
/// block carries the new certificate; `https` is `None` when it was not read this poll.
pub fn after_poll(status: &DomainStatus, https: Option<&HttpsGet>, target: &Target) -> Verdict {
    match status {
        DomainStatus::ConfigureFailed => Verdict::ConfigureFailed,
        DomainStatus::Online if serves(https, target) => Verdict::Deployed,
        _ => Verdict::Waiting,
    }
}

/// Judges a poll from a sweep: the domain's own status and whether its own bulk-read entry
/// serves the certificate ([`BulkEntry::serves`](super::settings::BulkEntry::serves)).
pub fn after_poll_detail(status: &DomainStatus, serves: Option<bool>) -> Verdict {
    match status {
        DomainStatus::ConfigureFailed => Verdict::ConfigureFailed,
        DomainStatus::Online if serves == Some(true) => Verdict::Deployed,
        _ => Verdict::Waiting,
    }
}

/// The wait before poll `n` (0-based) after a write: about a second first, growing by half each
/// time, never more than ten seconds. A real CDN takes minutes, the simulator seconds.
pub fn poll_delay(n: u32) -> Duration {
    let ms = 1000.0 * 1.5f64.powi(n.min(20) as i32);
    Duration::from_millis(ms.min(10_000.0) as u64)
}

/// The wait before retry `attempt` (0-based) of a failed call: exponential from half a second,
/// capped at eight, with jitter (`rand01` in [0, 1)) taking off up to half.
pub fn retry_delay(attempt: u32, rand01: f64) -> Duration {
    let full = (500u64 << attempt.min(10)).min(8_000) as f64;
    Duration::from_millis((full * (0.5 + 0.5 * rand01.clamp(0.0, 1.0))) as u64)
}

/// What a per-domain write's failure calls for: the write-error policy, apart from the I/O that
/// carries it out (`domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterWriteError {
    /// Throttled: the write was not applied; wait (as the answer asks, or back off) and write
    /// again without reading.
    WaitAndWrite,
    /// Busy with another change: not applied; wait until the domain settles, then read again.
    SettleAndRead,
    /// A 5xx or a lost answer: the change may have been applied, so read again (after a pause)
    /// before any other write.
    PauseAndRead,
    /// Out of budget before it was sent: the domain ends as far as it got.
    OutOfBudget,
    /// Final: the CDN refused it, keys failed, or the attempts are spent.
    End,
}

/// The policy for the `attempt`th (from 1) failed write of a domain, of `kind`; `budget_spent`
/// says the call was not sent for want of time.
pub fn after_write_error(
    kind: ErrorKind,
    budget_spent: bool,
    attempt: u32,
    max_attempts: u32,
) -> AfterWriteError {
    let exhausted = attempt >= max_attempts;
    match kind {
        ErrorKind::Throttled if !exhausted => AfterWriteError::WaitAndWrite,
        ErrorKind::Busy if !exhausted => AfterWriteError::SettleAndRead,
        ErrorKind::Server | ErrorKind::Transport if !exhausted => AfterWriteError::PauseAndRead,
        ErrorKind::NotSent if budget_spent => AfterWriteError::OutOfBudget,
        _ => AfterWriteError::End,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const LEAF: &str = include_str!("../../tests/fixtures/demo-leaf.pem");

    fn pem_target() -> Target {
        Target::Pem {
            name: "n".into(),
            chain_pem: LEAF.into(),
            private_key: Secret::new("k"),
            fingerprint: leaf_fingerprint(LEAF).unwrap(),
        }
    }

    fn serving(value: &str) -> HttpsGet {
        HttpsGet {
            https_status: Some("on".into()),
            certificate_value: Some(value.into()),
            certificate_source: Some(0),
            http2_status: Some("on".into()),
            tls_version: Some("TLSv1.2,TLSv1.3".into()),
            ocsp_stapling_status: Some("on".into()),
            ..Default::default()
        }
    }

    #[test]
    fn unchanged_only_when_online_and_serving() {
        let t = pem_target();
        let h = serving(LEAF);
        assert_eq!(
            after_read(&DomainStatus::Online, Some(&h), &t, false),
            Decision::Unchanged
        );
        assert_eq!(
            after_read(&DomainStatus::Online, Some(&h), &t, true),
            Decision::Write
        );
        assert_eq!(
            after_read(&DomainStatus::Configuring, Some(&h), &t, false),
            Decision::WaitUntilSettled
        );
        assert_eq!(
            after_read(&DomainStatus::ConfigureFailed, Some(&h), &t, false),
            Decision::Write
        );
        let off = HttpsGet {
            https_status: Some("off".into()),
            ..h.clone()
        };
        assert_eq!(
            after_read(&DomainStatus::Online, Some(&off), &t, false),
            Decision::Write
        );
        assert_eq!(
            after_read(&DomainStatus::Online, None, &t, false),
            Decision::Write
        );
        assert!(matches!(
            after_read(&DomainStatus::Offline, None, &t, false),
            Decision::Unavailable(_)
        ));
    }

    #[test]
    fn scm_identity_is_the_id() {
        let t = Target::Scm {
            id: "scs1".into(),
            name: "scs1".into(),
        };
        let h = HttpsGet {
            https_status: Some("on".into()),
            certificate_source: Some(2),
            scm_certificate_id: Some("scs1".into()),
            ..Default::default()
        };
        assert!(serves(Some(&h), &t));
        let other = HttpsGet {
            scm_certificate_id: Some("scs2".into()),
            ..h
        };
        assert!(!serves(Some(&other), &t));
        assert!(!serves(Some(&serving(LEAF)), &t));
    }

    #[test]
    fn write_keeps_current_settings_unless_overridden() {
        let t = pem_target();
        let cur = serving("old");
        let put = https_put(Some(&cur), &t, &Overrides::default());
        assert_eq!(put.http2_status.as_deref(), Some("on"));
        assert_eq!(put.tls_version.as_deref(), Some("TLSv1.2,TLSv1.3"));
        assert_eq!(put.ocsp_stapling_status.as_deref(), Some("on"));
        assert_eq!(put.certificate_value.as_deref(), Some(LEAF));
        assert_eq!(put.https_status, "on");
        let put = https_put(
            Some(&cur),
            &t,
            &Overrides {
                http2: Some(false),
                tls_version: Some("TLSv1.3".into()),
                ocsp_stapling: None,
            },
        );
        assert_eq!(put.http2_status.as_deref(), Some("off"));
        assert_eq!(put.tls_version.as_deref(), Some("TLSv1.3"));
        assert_eq!(put.ocsp_stapling_status.as_deref(), Some("on"));
        let fresh = https_put(None, &t, &Overrides::default());
        assert_eq!(fresh.http2_status, None);
    }

    #[test]
    fn poll_verdicts() {
        let t = pem_target();
        let h = serving(LEAF);
        assert_eq!(
            after_poll(&DomainStatus::Online, Some(&h), &t),
            Verdict::Deployed
        );
        assert_eq!(
            after_poll(&DomainStatus::Configuring, Some(&h), &t),
            Verdict::Waiting
        );
        assert_eq!(
            after_poll(&DomainStatus::Online, None, &t),
            Verdict::Waiting
        );
        assert_eq!(
            after_poll(&DomainStatus::Online, Some(&serving("old")), &t),
            Verdict::Waiting
        );
        assert_eq!(
            after_poll(&DomainStatus::ConfigureFailed, None, &t),
            Verdict::ConfigureFailed
        );
    }

    #[test]
    fn a_batch_body_sends_every_setting_it_carries_and_the_redirect_twice() {
        use crate::deploy::settings::Origin;
        let key = BatchKey {
            origin: Origin::Https,
            http2: true,
            redirect_to_https: true,
        };
        let put = batch_put(
            &["a.example.com".into(), "b.example.com".into()],
            &key,
            &pem_target(),
        );
        assert_eq!(put.https.domain_name, "a.example.com,b.example.com");
        assert_eq!((put.https.access_origin_way, put.https.http2), (3, 1));
        assert_eq!(put.https.force_redirect_https, 1);
        assert_eq!(put.https.force_redirect_config.switch, 1);
        assert_eq!(
            put.https.force_redirect_config.redirect_type.as_deref(),
            Some("https")
        );
        assert_eq!(put.https.certificate_type, 0);
        assert!(put.https.private_key.is_some());
        let off = batch_put(
            &["a.example.com".into()],
            &BatchKey {
                origin: Origin::Follow,
                http2: false,
                redirect_to_https: false,
            },
            &pem_target(),
        );
        let json = serde_json::to_value(&off).unwrap();
        assert_eq!(json["https"]["force_redirect_https"], 0);
        assert_eq!(
            json["https"]["force_redirect_config"],
            serde_json::json!({"switch": 0})
        );
    }

    #[test]
    fn sweep_verdicts_need_the_domain_s_own_certificate() {
        use crate::deploy::settings::BulkEntry;
        let t = pem_target();
        let entry = |https_status: i64, certificate_type: i64, pem: &str| BulkEntry {
            https_status: Some(https_status),
            certificate_type: Some(certificate_type),
            leaf: crate::cert::leaf_facts(pem),
            ..Default::default()
        };
        let online = DomainStatus::Online;
        let serves = entry(2, 0, LEAF).serves(&t);
        assert_eq!(serves, Some(true));
        assert_eq!(after_poll_detail(&online, serves), Verdict::Deployed);
        let other = include_str!("../../tests/fixtures/sm2-sign.pem");
        let old = entry(2, 0, other).serves(&t);
        assert_eq!(after_poll_detail(&online, old), Verdict::Waiting);
        assert_eq!(
            after_poll_detail(&DomainStatus::Configuring, serves),
            Verdict::Waiting
        );
        assert_eq!(
            entry(2, 2, LEAF).serves(&t),
            Some(false),
            "a Certificate Manager entry is not the uploaded certificate"
        );
        assert_eq!(entry(0, 0, LEAF).serves(&t), Some(false), "HTTPS off");
        let scm = Target::Scm {
            id: "scs1".into(),
            name: "scs1".into(),
        };
        assert_eq!(entry(2, 2, LEAF).serves(&scm), None);
        assert_eq!(
            after_poll_detail(&DomainStatus::ConfigureFailed, old),
            Verdict::ConfigureFailed
        );
    }

    #[test]
    fn a_per_domain_write_carries_every_block_the_read_showed() {
        let before: Configs = serde_json::from_value(serde_json::json!({
            "origin_protocol": "https",
            "https": {"https_status": "on", "http2_status": "on", "ocsp_stapling_status": "on"},
            "force_redirect": {"status": "on", "type": "https", "redirect_code": 302},
            "https_tls_version": {"tls_version": "TLSv1.2,TLSv1.3", "cipher_suite_group": "strict",
                                  "read_only": 1},
            "hsts": {"status": "on", "max_age": 600, "include_subdomains": "on"},
            "quic": {"status": "on"},
            "client_cert": {"status": "on", "trusted_cert": "CA", "hosts": "a.example.com"}
        }))
        .unwrap();
        let https = https_put(before.https.as_ref(), &pem_target(), &Overrides::default());
        let put = full_put(&before, https);
        // TLS versions found only in https_tls_version go in both places.
        assert_eq!(put.https.tls_version.as_deref(), Some("TLSv1.2,TLSv1.3"));
        let json = serde_json::to_value(put.configs()).unwrap();
        assert_eq!(json["https_tls_version"]["tls_version"], "TLSv1.2,TLSv1.3");
        assert!(
            json["https_tls_version"].get("read_only").is_none(),
            "GET-only fields"
        );
        assert_eq!(json["hsts"]["max_age"], 600);
        assert_eq!(json["quic"]["status"], "on");
        assert_eq!(json["client_cert"]["hosts"], "a.example.com");
        assert_eq!(json["force_redirect"]["redirect_code"], 302);
        assert_eq!(json["origin_protocol"], "https");
        assert!(
            json.get("sni").is_none(),
            "a block the read did not show is not sent"
        );
        // A restore sends the default of a changed setting the read did not carry.
        let changed = [settings::Change {
            setting: "origin_sni",
            before: Value::Null,
            after: serde_json::json!({"status": "on"}),
        }];
        let https = https_put(before.https.as_ref(), &pem_target(), &Overrides::default());
        let restore = restore_put(&before, &changed, https);
        assert_eq!(restore.sni, Some(serde_json::json!({"status": "off"})));
        assert_eq!(restore.hsts, put.hsts);
    }

    /// A job deploying a Certificate Manager certificate (which no served PEM is).
    fn job(incoming: Option<Incoming>, force: bool) -> Job {
        Job {
            target: Target::Scm {
                id: "scs1".into(),
                name: "n".into(),
            },
            enterprise_project_id: None,
            force,
            dry_run: false,
            wait: true,
            overrides: Overrides::default(),
            incoming,
            written_before: Default::default(),
        }
    }

    #[test]
    fn a_newer_certificate_for_the_same_names_is_not_replaced_unless_forced() {
        // The served demo leaf covers example.com and *.example.com until 2036-11-25.
        let served = serving(LEAF);
        let served_until = leaf_not_after(LEAF).unwrap();
        let incoming = |names: &[&str], not_after: i64| Incoming {
            names: names.iter().map(|n| n.to_string()).collect(),
            not_after,
        };
        let online = DomainStatus::Online;
        let step = |i: Incoming, force: bool, dry: bool| {
            let job = Job {
                dry_run: dry,
                ..job(Some(i), force)
            };
            after_full_read(false, &online, Some(&served), &job)
        };
        let earlier = served_until - 86_400;
        let same = ["example.com", "www.example.com"];
        assert_eq!(
            step(incoming(&same, earlier), false, false),
            ReadStep::NewerLive(served_until)
        );
        assert_eq!(
            step(incoming(&same, earlier), false, true),
            ReadStep::NewerLive(served_until),
            "a dry run says so too"
        );
        assert!(matches!(
            step(incoming(&same, earlier), true, false),
            ReadStep::Write(_)
        ));
        // Later, or a name the served one lacks: written.
        assert!(matches!(
            step(incoming(&same, served_until + 1), false, false),
            ReadStep::Write(_)
        ));
        assert!(matches!(
            step(
                incoming(&["example.com", "other.org"], earlier),
                false,
                false
            ),
            ReadStep::Write(_)
        ));
        // Nothing is assumed of a certificate that cannot be read, or of HTTPS off.
        let unreadable = serving("-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n");
        assert_eq!(
            newer_live(Some(&unreadable), &incoming(&same, earlier)),
            None
        );
        let mut off = serving(LEAF);
        off.https_status = Some("off".into());
        assert_eq!(newer_live(Some(&off), &incoming(&same, earlier)), None);
        assert_eq!(newer_live(None, &incoming(&same, earlier)), None);
    }

    #[test]
    fn delays() {
        assert_eq!(poll_delay(0), Duration::from_secs(1));
        assert_eq!(poll_delay(1), Duration::from_millis(1500));
        assert_eq!(poll_delay(30), Duration::from_secs(10));
        assert_eq!(retry_delay(0, 0.0), Duration::from_millis(250));
        assert_eq!(retry_delay(0, 0.999_999), Duration::from_millis(499));
        assert_eq!(retry_delay(9, 0.0), Duration::from_secs(4));
    }

    #[test]
    fn the_write_error_policy() {
        use AfterWriteError::*;
        let p = |kind, spent, attempt| after_write_error(kind, spent, attempt, 3);
        // Not applied: write again (throttled) or read once settled (busy).
        assert_eq!(p(ErrorKind::Throttled, false, 1), WaitAndWrite);
        assert_eq!(p(ErrorKind::Busy, false, 2), SettleAndRead);
        // Maybe applied: read before writing again.
        assert_eq!(p(ErrorKind::Server, false, 1), PauseAndRead);
        assert_eq!(p(ErrorKind::Transport, false, 2), PauseAndRead);
        // The attempts spent, whatever the kind.
        for kind in [
            ErrorKind::Throttled,
            ErrorKind::Busy,
            ErrorKind::Server,
            ErrorKind::Transport,
        ] {
            assert_eq!(p(kind, false, 3), End, "{kind:?}");
        }
        assert_eq!(p(ErrorKind::NotSent, true, 1), OutOfBudget);
        assert_eq!(
            p(ErrorKind::NotSent, false, 1),
            End,
            "stopped by an earlier auth failure"
        );
        assert_eq!(p(ErrorKind::Rejected, false, 1), End);
        assert_eq!(p(ErrorKind::Auth, false, 1), End);
    }

    #[test]
    fn the_step_after_a_full_read() {
        let online = DomainStatus::Online;
        let old = serving("-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n");
        let new = serving(LEAF);
        let step = |maybe: bool, status: &DomainStatus, h: &HttpsGet, dry: bool| {
            let job = Job {
                target: pem_target(),
                dry_run: dry,
                ..job(None, false)
            };
            after_full_read(maybe, status, Some(h), &job)
        };
        // A lost answer that shows in the read was applied, whatever the status says.
        assert_eq!(
            step(true, &DomainStatus::Configuring, &new, false),
            ReadStep::AppliedAfterAll
        );
        assert_eq!(step(false, &online, &new, false), ReadStep::Unchanged);
        assert_eq!(
            step(false, &DomainStatus::Configuring, &old, false),
            ReadStep::Settle
        );
        assert!(matches!(
            step(false, &DomainStatus::Offline, &old, false),
            ReadStep::Unavailable(_)
        ));
        // An SM pair is never written over, not even in a dry run.
        let mut sm = old.clone();
        sm.certificate_type = Some("server_sm".into());
        assert_eq!(step(false, &online, &sm, true), ReadStep::SmInUse);
        match step(false, &online, &old, true) {
            ReadStep::Planned(put) => assert_eq!(put.http2_status.as_deref(), Some("on")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            step(false, &online, &old, false),
            ReadStep::Write(_)
        ));
    }
}
