//! `certificate_source`: where a request says the certificate lives. Parsed strictly and checked
//! here (pure); fetched by [`super::fetch`].

use crate::error::FieldError;
use serde::Deserialize;

// The name checks live in a leaf module that the stores use too (stores/ never imports source/).
pub(crate) use crate::names::path_segment_ok;
pub use crate::names::{obs_bucket_name_ok, s3_bucket_name_ok, scm_id_message, scm_id_ok};

/// The object or parameter names of a full chain (or a leaf with `chain` apart) and its key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locations {
    /// The full chain, leaf first (or only the leaf when `chain` is given).
    pub certificate: String,
    pub private_key: String,
    /// The intermediates, when stored apart from the leaf; joined after it.
    #[serde(default)]
    pub chain: Option<String>,
}

/// A Secrets Manager secret (or a CSMS secret).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsManagerSource {
    /// Name or ARN.
    pub secret_id: String,
    /// The JSON keys of the secret; absent: the common issuers' layouts are tried.
    #[serde(default)]
    pub json_keys: Option<Locations>,
    /// `AWSCURRENT` when absent.
    #[serde(default)]
    pub version_stage: Option<String>,
}

/// Objects in an S3 or OBS bucket: `keys`, or a `prefix` holding `fullchain.pem` and `privkey.pem`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSource {
    pub bucket: String,
    #[serde(default)]
    pub keys: Option<Locations>,
    #[serde(default)]
    pub prefix: Option<String>,
}

/// SSM parameters: `parameters`, or a `prefix` (a path such as `/certs/example.com/`) holding
/// `fullchain.pem` and `privkey.pem`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSource {
    #[serde(default)]
    pub parameters: Option<Locations>,
    #[serde(default)]
    pub prefix: Option<String>,
}

/// A Huawei Cloud CSMS secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsmsSource {
    pub secret_name: String,
    #[serde(default)]
    pub json_keys: Option<Locations>,
    /// A version id; `latest` when absent.
    #[serde(default)]
    pub version: Option<String>,
}

/// A certificate already in Huawei Cloud Certificate Manager.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScmSource {
    pub certificate_id: String,
}

/// Where the certificate lives, by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CertificateSource {
    #[serde(rename = "secretsmanager")]
    SecretsManager(SecretsManagerSource),
    S3(ObjectSource),
    Ssm(ParameterSource),
    HuaweiCsms(CsmsSource),
    HuaweiObs(ObjectSource),
    Scm(ScmSource),
}

/// The file names a `prefix` holds (certbot's layout).
pub const FULLCHAIN_FILE: &str = "fullchain.pem";
pub const PRIVKEY_FILE: &str = "privkey.pem";

impl CertificateSource {
    /// The `type` word.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SecretsManager(_) => "secretsmanager",
            Self::S3(_) => "s3",
            Self::Ssm(_) => "ssm",
            Self::HuaweiCsms(_) => "huawei_csms",
            Self::HuaweiObs(_) => "huawei_obs",
            Self::Scm(_) => "scm",
        }
    }

    /// A short human name for logs, errors and the result (no secret in it).
    pub fn describe(&self) -> String {
        match self {
            Self::SecretsManager(s) => format!("secretsmanager secret `{}`", s.secret_id),
            Self::S3(o) => format!("s3 bucket `{}`", o.bucket),
            Self::Ssm(p) => match (&p.prefix, &p.parameters) {
                (Some(prefix), _) => format!("ssm parameters under `{prefix}`"),
                (None, Some(l)) => format!("ssm parameter `{}`", l.certificate),
                (None, None) => "ssm parameters".to_string(),
            },
            Self::HuaweiCsms(s) => format!("huawei_csms secret `{}`", s.secret_name),
            Self::HuaweiObs(o) => format!("huawei_obs bucket `{}`", o.bucket),
            Self::Scm(s) => format!("scm certificate `{}`", s.certificate_id),
        }
    }

    /// Checks what serde cannot: required names not blank, `keys` xor `prefix`, names that go
    /// into a URL as they are.
    pub fn check(&self) -> Result<(), FieldError> {
        match self {
            Self::SecretsManager(s) => {
                blank("secret_id", &s.secret_id)?;
                s.json_keys
                    .as_ref()
                    .map_or(Ok(()), |l| locations("json_keys", l))
            }
            Self::S3(o) => {
                // An S3 bucket is a path segment of the signed URL: `..` would be folded away.
                bucket(&o.bucket, s3_bucket_name_ok, S3_BUCKET)?;
                object_keys(o)
            }
            Self::HuaweiObs(o) => {
                // An OBS bucket becomes part of the host name the signed request goes to.
                bucket(&o.bucket, obs_bucket_name_ok, OBS_BUCKET)?;
                object_keys(o)
            }
            Self::Ssm(p) => one_of(&p.parameters, &p.prefix, "parameters"),
            Self::HuaweiCsms(s) => csms(s),
            Self::Scm(s) => {
                blank("certificate_id", &s.certificate_id)?;
                let id = s.certificate_id.trim();
                if !scm_id_ok(id) {
                    return Err(FieldError::new(
                        "certificate_source.certificate_id",
                        scm_id_message(id),
                    ));
                }
                Ok(())
            }
        }
    }
}

const S3_BUCKET: &str =
    "is not an S3 bucket name (up to 255 letters, digits, `-`, `_` or `.`, not only dots)";
const OBS_BUCKET: &str = concat!(
    "is not an OBS bucket name (3 to 63 lower-case letters, digits, `-` or `.`, ",
    "starting and ending with a letter or digit)"
);

/// A required name of the source, not blank.
fn blank(field: &str, v: &str) -> Result<(), FieldError> {
    if v.trim().is_empty() {
        return Err(FieldError::new(
            format!("certificate_source.{field}"),
            "must not be empty",
        ));
    }
    Ok(())
}

/// Where the certificate, key and chain are, none blank.
fn locations(field: &str, l: &Locations) -> Result<(), FieldError> {
    blank(&format!("{field}.certificate"), &l.certificate)?;
    blank(&format!("{field}.private_key"), &l.private_key)?;
    if let Some(c) = &l.chain {
        blank(&format!("{field}.chain"), c)?;
    }
    Ok(())
}

/// Named locations or a prefix, exactly one.
fn one_of(
    keys: &Option<Locations>,
    prefix: &Option<String>,
    field: &str,
) -> Result<(), FieldError> {
    match (keys, prefix) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "certificate_source.prefix",
            format!("give `{field}` or `prefix`, not both"),
        )),
        (None, None) => Err(FieldError::new(
            format!("certificate_source.{field}"),
            format!(
                "give `{field}` (certificate, private_key) or a `prefix` holding {FULLCHAIN_FILE} and {PRIVKEY_FILE}"
            ),
        )),
        (Some(l), None) => locations(field, l),
        (None, Some(_)) => Ok(()),
    }
}

/// A bucket's name, not blank and one the store could hold (`what` it is not, otherwise).
fn bucket(name: &str, ok: fn(&str) -> bool, what: &str) -> Result<(), FieldError> {
    blank("bucket", name)?;
    if !ok(name) {
        return Err(FieldError::new(
            "certificate_source.bucket",
            format!("`{name}` {what}"),
        ));
    }
    Ok(())
}

/// An object source's keys: named or under a prefix, and none with a `.` or `..` segment (URL
/// parsing folds them, so such a key would be read and signed as another object).
fn object_keys(o: &ObjectSource) -> Result<(), FieldError> {
    one_of(&o.keys, &o.prefix, "keys")?;
    let resolved = resolve(&o.keys, &o.prefix);
    let mut named = vec![
        ("certificate", &resolved.certificate),
        ("private_key", &resolved.private_key),
    ];
    if let Some(c) = &resolved.chain {
        named.push(("chain", c));
    }
    for (name, key) in named {
        if key.split('/').any(|seg| seg == "." || seg == "..") {
            let field = match o.keys {
                Some(_) => format!("certificate_source.keys.{name}"),
                None => "certificate_source.prefix".to_string(),
            };
            return Err(FieldError::new(
                field,
                format!(
                    "object key `{key}` has a `.` or `..` path segment, which object stores cannot be asked for by URL"
                ),
            ));
        }
    }
    Ok(())
}

/// A CSMS secret: names are 1-64 of `A-Za-z0-9_-` (the console also allows `.`); anything else
/// cannot exist, so say so rather than report `not_found`. `.` and `..` would be folded out of
/// the URL after signing: the call would fail its signature, and repeated failures lock the key
/// the CDN calls use too.
fn csms(s: &CsmsSource) -> Result<(), FieldError> {
    blank("secret_name", &s.secret_name)?;
    if !path_segment_ok(&s.secret_name, 64, true) {
        return Err(FieldError::new(
            "certificate_source.secret_name",
            format!(
                "`{}` is not a CSMS secret name (1 to 64 letters, digits, `_`, `-` or `.`)",
                s.secret_name
            ),
        ));
    }
    if let Some(v) = &s.version {
        if !path_segment_ok(v, 64, false) {
            return Err(FieldError::new(
                "certificate_source.version",
                format!("`{v}` is not a CSMS version id (1 to 64 letters, digits, `_` or `-`)"),
            ));
        }
    }
    s.json_keys
        .as_ref()
        .map_or(Ok(()), |l| locations("json_keys", l))
}

/// The names to read for an object or parameter source: the given ones, or the prefix's files.
pub fn resolve(keys: &Option<Locations>, prefix: &Option<String>) -> Locations {
    match (keys, prefix) {
        (Some(l), _) => l.clone(),
        (None, p) => {
            // A prefix names a folder: `live/example.com` holds `live/example.com/fullchain.pem`.
            let p = match p.as_deref().unwrap_or("") {
                "" => String::new(),
                p if p.ends_with('/') => p.to_string(),
                p => format!("{p}/"),
            };
            Locations {
                certificate: format!("{p}{FULLCHAIN_FILE}"),
                private_key: format!("{p}{PRIVKEY_FILE}"),
                chain: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<CertificateSource, String> {
        serde_json::from_value::<CertificateSource>(v).map_err(|e| e.to_string())
    }

    #[test]
    fn every_type_parses() {
        let s = parse(json!({"type": "secretsmanager", "secret_id": "prod/cert"})).unwrap();
        assert_eq!(s.kind(), "secretsmanager");
        assert!(s.check().is_ok());
        let s = parse(json!({"type": "s3", "bucket": "b", "prefix": "live/x/"})).unwrap();
        assert!(s.check().is_ok());
        let s =
            parse(json!({"type": "ssm", "parameters": {"certificate": "/c", "private_key": "/k"}}))
                .unwrap();
        assert!(s.check().is_ok());
        let s = parse(json!({"type": "huawei_csms", "secret_name": "cert"})).unwrap();
        assert_eq!(s.kind(), "huawei_csms");
        let s = parse(json!({"type": "huawei_obs", "bucket": "certs", "keys": {"certificate": "a", "private_key": "b"}}))
            .unwrap();
        assert!(s.check().is_ok());
        let s = parse(json!({"type": "scm", "certificate_id": "scs1"})).unwrap();
        assert_eq!(s.describe(), "scm certificate `scs1`");
    }

    #[test]
    fn names_that_url_parsing_would_fold_are_refused() {
        for (source, field) in [
            (
                json!({"type": "huawei_csms", "secret_name": "."}),
                "secret_name",
            ),
            (
                json!({"type": "huawei_csms", "secret_name": ".."}),
                "secret_name",
            ),
            (
                json!({"type": "huawei_csms", "secret_name": "c", "version": ".."}),
                "version",
            ),
            (
                json!({"type": "huawei_csms", "secret_name": "c", "version": "v1/../x"}),
                "version",
            ),
            (
                json!({"type": "s3", "bucket": "..", "prefix": "x/"}),
                "bucket",
            ),
            (
                json!({"type": "s3", "bucket": "a/b", "prefix": "x/"}),
                "bucket",
            ),
            (
                json!({"type": "huawei_obs", "bucket": "..", "prefix": "x/"}),
                "bucket",
            ),
        ] {
            let FieldError {
                field: f,
                message: m,
            } = parse(source.clone()).unwrap().check().unwrap_err();
            assert_eq!(f, format!("certificate_source.{field}"), "{source}: {m}");
        }
        let ok = json!({"type": "huawei_csms", "secret_name": "my.cert-1", "version": "v3"});
        assert!(parse(ok).unwrap().check().is_ok());
    }

    #[test]
    fn typos_and_unknown_types_are_rejected() {
        let e =
            parse(json!({"type": "secretsmanager", "secret_id": "x", "jsonkeys": {}})).unwrap_err();
        assert!(e.contains("unknown field `jsonkeys`"), "{e}");
        let e = parse(json!({"type": "vault", "path": "x"})).unwrap_err();
        assert!(e.contains("unknown variant `vault`"), "{e}");
        let e = parse(json!({"secret_id": "x"})).unwrap_err();
        assert!(e.contains("type"), "{e}");
    }

    #[test]
    fn keys_or_prefix_not_both_nor_neither() {
        let s = parse(json!({"type": "s3", "bucket": "b"})).unwrap();
        assert_eq!(s.check().unwrap_err().field, "certificate_source.keys");
        let s = parse(json!({"type": "s3", "bucket": "b", "prefix": "p/",
                            "keys": {"certificate": "a", "private_key": "b"}}))
        .unwrap();
        assert_eq!(s.check().unwrap_err().field, "certificate_source.prefix");
        let s = parse(json!({"type": "s3", "bucket": " ", "prefix": "p/"})).unwrap();
        assert_eq!(s.check().unwrap_err().field, "certificate_source.bucket");
    }

    #[test]
    fn dot_segments_in_object_keys_are_refused() {
        // `a/../b` would reach the store as `b`: refuse rather than read another object.
        let s = parse(json!({"type": "s3", "bucket": "b",
                            "keys": {"certificate": "live/../fullchain.pem", "private_key": "k"}}))
        .unwrap();
        let FieldError {
            field,
            message: msg,
        } = s.check().unwrap_err();
        assert_eq!(field, "certificate_source.keys.certificate");
        assert!(msg.contains("live/../fullchain.pem"), "{msg}");
        let s =
            parse(json!({"type": "huawei_obs", "bucket": "certs", "prefix": "./live/"})).unwrap();
        assert_eq!(s.check().unwrap_err().field, "certificate_source.prefix");
        // Dots inside a name are ordinary characters.
        let s =
            parse(json!({"type": "s3", "bucket": "b", "prefix": "live/..example.com./"})).unwrap();
        assert!(s.check().is_ok());
    }

    #[test]
    fn csms_names_follow_csms_rules() {
        let s = parse(json!({"type": "huawei_csms", "secret_name": "demo/example.com"})).unwrap();
        assert_eq!(
            s.check().unwrap_err().field,
            "certificate_source.secret_name"
        );
        let s = parse(json!({"type": "huawei_csms", "secret_name": "x".repeat(65)})).unwrap();
        assert!(s.check().is_err());
        let s =
            parse(json!({"type": "huawei_csms", "secret_name": "example_com-2027.v1"})).unwrap();
        assert!(s.check().is_ok());
    }

    #[test]
    fn obs_buckets_cannot_steer_the_host() {
        for bad in [
            "localhost:9/x?",
            "evil.example#",
            "Certs",
            "ab",
            "-certs",
            "a..b",
            "a b",
        ] {
            let s = parse(json!({"type": "huawei_obs", "bucket": bad, "prefix": "p/"})).unwrap();
            assert_eq!(
                s.check().unwrap_err().field,
                "certificate_source.bucket",
                "{bad}"
            );
        }
        let s = parse(json!({"type": "huawei_obs", "bucket": "my-certs.2026", "prefix": "p/"}))
            .unwrap();
        assert!(s.check().is_ok());
    }

    #[test]
    fn a_prefix_holds_certbots_files() {
        let l = resolve(&None, &Some("live/example.com/".into()));
        assert_eq!(l.certificate, "live/example.com/fullchain.pem");
        assert_eq!(l.private_key, "live/example.com/privkey.pem");
        let l = resolve(&None, &Some("/certs/example.com".into()));
        assert_eq!(l.certificate, "/certs/example.com/fullchain.pem");
    }
}
