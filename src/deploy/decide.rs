//! The pure decisions of a domain's deployment: after reading it, write or not; what to write so
//! nothing the user did not ask to change is lost; after polling it, done or not; how long to
//! wait before the next poll or retry.

use std::time::Duration;

use super::target::Target;
use crate::cert::{leaf_fingerprint, leaf_not_after};
use crate::huawei::model::{
    BatchHttps, BatchPut, BatchRedirect, Configs, DomainStatus, HttpsDetail, HttpsGet, HttpsPut,
    SOURCE_OWN, SOURCE_SCM,
};

/// Settings the request asks to change; `None` keeps the domain's current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub http2: Option<bool>,
    pub tls_version: Option<String>,
    pub ocsp_stapling: Option<bool>,
}

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

/// As [`served_not_after`], from a bulk read.
pub fn detail_not_after(d: &HttpsDetail) -> Option<i64> {
    if d.https_status.unwrap_or(0) == 0 {
        return None;
    }
    d.certificate
        .as_deref()
        .and_then(leaf_not_after)
        .or(d.expiration_time.map(|ms| ms / 1000))
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

/// What a batch write must send for a domain to keep its settings: the batch API resets the
/// origin protocol, HTTP/2 and the forced redirect it is not sent, so domains are grouped by them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BatchKey {
    /// 1 follow, 2 http, 3 https.
    pub access_origin_way: i64,
    pub http2: i64,
    pub redirect: BatchRedirect,
}

/// The batch group of a domain, or `None` when it must be written alone: the request sets TLS
/// versions or OCSP stapling (which the batch call cannot carry), or the domain's origin protocol
/// or redirect is one the batch call cannot express.
pub fn batch_key(configs: &Configs, overrides: &Overrides) -> Option<BatchKey> {
    if overrides.tls_version.is_some() || overrides.ocsp_stapling.is_some() {
        return None;
    }
    let access_origin_way = match configs.origin_protocol.as_deref() {
        Some("follow") => 1,
        Some("http") | None => 2,
        Some("https") => 3,
        Some(_) => return None,
    };
    let current_http2 = configs
        .https
        .as_ref()
        .and_then(|h| h.http2_status.as_deref())
        == Some("on");
    let http2 = i64::from(overrides.http2.unwrap_or(current_http2));
    let redirect = match &configs.force_redirect {
        // The batch call cannot carry a redirect code: it would become a 301.
        Some(r) if r.redirect_code.is_some_and(|c| c != 301) => return None,
        Some(r) if r.status.as_deref() == Some("on") => BatchRedirect {
            switch: 1,
            redirect_type: Some(r.kind.clone().unwrap_or_else(|| "https".into())),
        },
        _ => BatchRedirect::default(),
    };
    Some(BatchKey {
        access_origin_way,
        http2,
        redirect,
    })
}

/// Whether a domain's bulk-read HTTPS settings already serve `target`; `None` when the bulk
/// read cannot tell (it does not carry the Certificate Manager id).
pub fn detail_serves(detail: &HttpsDetail, target: &Target) -> Option<bool> {
    match target {
        Target::Pem { fingerprint, .. } => Some(
            detail.https_status.unwrap_or(0) > 0
                && detail.certificate_type.unwrap_or(SOURCE_OWN) != SOURCE_SCM
                && detail
                    .certificate
                    .as_deref()
                    .and_then(leaf_fingerprint)
                    .is_some_and(|f| &f == fingerprint),
        ),
        Target::Scm { .. } => None,
    }
}

/// The batch group of a domain from its bulk-read settings, or `None` when they do not say
/// enough: HTTPS off (the origin protocol is then not given), a forced redirect on (its code is
/// not given), or the request sets what the batch call cannot carry.
pub fn detail_batch_key(detail: &HttpsDetail, overrides: &Overrides) -> Option<BatchKey> {
    if overrides.tls_version.is_some() || overrides.ocsp_stapling.is_some() {
        return None;
    }
    let access_origin_way = match detail.https_status? {
        way @ 1..=3 => way,
        _ => return None,
    };
    if detail
        .force_redirect_config
        .as_ref()
        .is_some_and(|r| r.switch != 0)
    {
        return None;
    }
    let http2 = i64::from(overrides.http2.unwrap_or(detail.http2 == Some(1)));
    Some(BatchKey {
        access_origin_way,
        http2,
        redirect: BatchRedirect::default(),
    })
}

/// What the bulk snapshot says about a domain before any call of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromSnapshot {
    /// Online and already serving the certificate.
    Unchanged,
    /// Needs the certificate, and the snapshot gives every setting a batch write must carry.
    Batch(BatchKey),
    /// The domain's own reads must decide.
    Read,
}

/// Decides from the bulk snapshot (status and HTTPS settings of the same sweep).
pub fn from_snapshot(
    status: &DomainStatus,
    detail: &HttpsDetail,
    target: &Target,
    force: bool,
    overrides: &Overrides,
) -> FromSnapshot {
    if *status != DomainStatus::Online {
        return FromSnapshot::Read;
    }
    match detail_serves(detail, target) {
        None => FromSnapshot::Read,
        Some(true) if !force => FromSnapshot::Unchanged,
        Some(_) => {
            detail_batch_key(detail, overrides).map_or(FromSnapshot::Read, FromSnapshot::Batch)
        }
    }
}

/// The batch body writing `target` onto `domains` with the group's settings.
pub fn batch_put(domains: &[String], key: &BatchKey, target: &Target) -> BatchPut {
    let mut https = BatchHttps {
        domain_name: domains.join(","),
        https_switch: 1,
        access_origin_way: key.access_origin_way,
        http2: key.http2,
        force_redirect_config: key.redirect.clone(),
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

/// After a batch write, the TLS versions and OCSP stapling to restore with a per-domain write,
/// when they did not survive it: `None` when they read as before.
pub fn lost_settings(before: Option<&HttpsGet>, after: Option<&HttpsGet>) -> Option<Overrides> {
    let (b, a) = (before?, after?);
    let tls_lost = b.tls_version.is_some() && b.tls_version != a.tls_version;
    let ocsp_lost =
        b.ocsp_stapling_status.is_some() && b.ocsp_stapling_status != a.ocsp_stapling_status;
    (tls_lost || ocsp_lost).then(|| Overrides {
        http2: None,
        tls_version: b.tls_version.clone(),
        ocsp_stapling: b.ocsp_stapling_status.as_deref().map(|s| s == "on"),
    })
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

/// Judges a poll from a sweep: the domain's own status and its own bulk-read certificate.
pub fn after_poll_detail(status: &DomainStatus, detail: &HttpsDetail, target: &Target) -> Verdict {
    match status {
        DomainStatus::ConfigureFailed => Verdict::ConfigureFailed,
        DomainStatus::Online if detail_serves(detail, target) == Some(true) => Verdict::Deployed,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::huawei::credential::Secret;

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
            name: None,
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
    fn batch_groups_follow_the_settings_the_batch_call_resets() {
        use crate::huawei::model::ForceRedirect;
        let configs = Configs {
            https: Some(serving("old")),
            origin_protocol: Some("https".into()),
            force_redirect: Some(ForceRedirect {
                status: Some("on".into()),
                kind: Some("https".into()),
                redirect_code: Some(301),
            }),
        };
        let key = batch_key(&configs, &Overrides::default()).unwrap();
        assert_eq!(key.access_origin_way, 3);
        assert_eq!(key.http2, 1);
        assert_eq!(key.redirect.switch, 1);
        let no_http2 = Overrides {
            http2: Some(false),
            ..Default::default()
        };
        assert_eq!(batch_key(&configs, &no_http2).unwrap().http2, 0);
        let tls = Overrides {
            tls_version: Some("TLSv1.3".into()),
            ..Default::default()
        };
        assert_eq!(
            batch_key(&configs, &tls),
            None,
            "the batch call cannot set TLS versions"
        );
        let plain = Configs::default();
        let k = batch_key(&plain, &Overrides::default()).unwrap();
        assert_eq!((k.access_origin_way, k.http2, k.redirect.switch), (2, 0, 0));
        let put = batch_put(
            &["a.example.com".into(), "b.example.com".into()],
            &key,
            &pem_target(),
        );
        assert_eq!(put.https.domain_name, "a.example.com,b.example.com");
        assert_eq!(put.https.certificate_type, 0);
        assert!(put.https.private_key.is_some());
    }

    fn detail(cert: &str, https_status: i64, http2: i64) -> HttpsDetail {
        HttpsDetail {
            domain_name: "a.example.com".into(),
            certificate: Some(cert.into()),
            certificate_type: Some(0),
            https_status: Some(https_status),
            http2: Some(http2),
            ..Default::default()
        }
    }

    #[test]
    fn the_snapshot_decides_only_what_it_can_see() {
        let t = pem_target();
        let none = Overrides::default();
        let online = DomainStatus::Online;
        assert_eq!(
            from_snapshot(&online, &detail(LEAF, 3, 1), &t, false, &none),
            FromSnapshot::Unchanged
        );
        // Serving another certificate: batched with the settings the bulk read gives.
        let old = detail("-----BEGIN CERTIFICATE-----\nnot this one\n", 3, 1);
        assert_eq!(
            from_snapshot(&online, &old, &t, false, &none),
            FromSnapshot::Batch(BatchKey {
                access_origin_way: 3,
                http2: 1,
                redirect: BatchRedirect::default()
            })
        );
        // Forced: written even though it already serves the certificate.
        assert!(matches!(
            from_snapshot(&online, &detail(LEAF, 1, 0), &t, true, &none),
            FromSnapshot::Batch(_)
        ));
        // What the bulk read does not say is left to the domain's own reads: a busy domain,
        // HTTPS off (no origin protocol), a redirect (no code), a Certificate Manager target.
        let configuring = DomainStatus::Configuring;
        assert_eq!(
            from_snapshot(&configuring, &old, &t, false, &none),
            FromSnapshot::Read
        );
        let off = HttpsDetail {
            https_status: Some(0),
            certificate: None,
            ..old.clone()
        };
        assert_eq!(
            from_snapshot(&online, &off, &t, false, &none),
            FromSnapshot::Read
        );
        let redirect = HttpsDetail {
            force_redirect_config: Some(BatchRedirect {
                switch: 1,
                redirect_type: Some("https".into()),
            }),
            ..old.clone()
        };
        assert_eq!(
            from_snapshot(&online, &redirect, &t, false, &none),
            FromSnapshot::Read
        );
        let scm = Target::Scm {
            id: "scs1".into(),
            name: None,
        };
        assert_eq!(
            from_snapshot(&online, &old, &scm, false, &none),
            FromSnapshot::Read
        );
        let tls = Overrides {
            tls_version: Some("TLSv1.3".into()),
            ..Default::default()
        };
        assert_eq!(
            from_snapshot(&online, &old, &t, false, &tls),
            FromSnapshot::Read
        );
    }

    #[test]
    fn sweep_verdicts_need_the_domain_s_own_certificate() {
        let t = pem_target();
        let online = DomainStatus::Online;
        assert_eq!(
            after_poll_detail(&online, &detail(LEAF, 2, 0), &t),
            Verdict::Deployed
        );
        let old = detail("old", 2, 0);
        assert_eq!(after_poll_detail(&online, &old, &t), Verdict::Waiting);
        assert_eq!(
            after_poll_detail(&DomainStatus::Configuring, &detail(LEAF, 2, 0), &t),
            Verdict::Waiting
        );
        let scm_typed = HttpsDetail {
            certificate_type: Some(2),
            ..detail(LEAF, 2, 0)
        };
        assert_eq!(after_poll_detail(&online, &scm_typed, &t), Verdict::Waiting);
        assert_eq!(
            after_poll_detail(&DomainStatus::ConfigureFailed, &old, &t),
            Verdict::ConfigureFailed
        );
    }

    #[test]
    fn a_redirect_code_other_than_301_keeps_a_domain_out_of_batches() {
        use crate::huawei::model::ForceRedirect;
        let configs = Configs {
            https: Some(serving("old")),
            origin_protocol: Some("http".into()),
            force_redirect: Some(ForceRedirect {
                status: Some("on".into()),
                kind: Some("https".into()),
                redirect_code: Some(302),
            }),
        };
        assert_eq!(batch_key(&configs, &Overrides::default()), None);
    }

    #[test]
    fn lost_tls_and_ocsp_are_restored() {
        let before = serving("x");
        let mut after = serving("y");
        assert_eq!(lost_settings(Some(&before), Some(&after)), None);
        after.tls_version = Some("TLSv1.1,TLSv1.2".into());
        after.ocsp_stapling_status = Some("off".into());
        let fix = lost_settings(Some(&before), Some(&after)).unwrap();
        assert_eq!(fix.tls_version.as_deref(), Some("TLSv1.2,TLSv1.3"));
        assert_eq!(fix.ocsp_stapling, Some(true));
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
}
