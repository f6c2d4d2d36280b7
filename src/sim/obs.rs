//! OBS (Object Storage Service) GetObject, served next to the CDN API: path-style
//! `GET /{bucket}/{object_key}` (the key may hold `/`; its segments are percent-encoded),
//! authenticated with the OBS header signature:
//!
//! ```text
//! Authorization: OBS <AK>:<Signature>
//! Signature     = Base64(HMAC-SHA1(SK, UTF-8(StringToSign)))
//! StringToSign  = HTTP-Verb + "\n" + Content-MD5 + "\n" + Content-Type + "\n" + Date + "\n"
//!                 + CanonicalizedHeaders + CanonicalizedResource
//! ```
//!
//! as the OBS API reference gives it ("Authentication of Signature in a Header", obs_04_0010)
//! and huaweicloud-sdk-go-obs `obs/auth.go` (`getV2StringToSign`, `attachHeaders`) and
//! `obs/conf.go` (`formatUrls`) implement it:
//! - `Content-MD5`, `Content-Type`, `Date`: the header values, empty when absent; `Date` is
//!   empty too when `x-obs-date` is sent (which then dates the request);
//! - `CanonicalizedHeaders`: every `x-obs-*` header, name lower-cased, values trimmed and
//!   joined by `,` when repeated, sorted by name, each as `name:value\n` (so
//!   `x-obs-security-token` is signed with temporary keys);
//! - `CanonicalizedResource`: `/bucket/key` as sent (the key URL-encoded as in the path),
//!   then the sub-resources of the query (`acl`, `versionId`, `response-content-type`, …)
//!   sorted, as `?k1=v1&k2` (values decoded).
//!
//! The request must be dated within 15 minutes of the server clock. The older `AWS <AK>:<sig>`
//! form (the SDKs' "v2" signature, `x-amz-*` headers) is accepted too. Errors are the XML
//! bodies OBS sends; every answer carries `x-obs-request-id`.

use std::collections::BTreeMap;

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper::Response;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::config::{SimCredential, SimObject};
use crate::huawei::sign::uri_decode;
use crate::secret::constant_time_eq;

/// Requests dated further than this from the server's clock are refused.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// The query parameters that are part of `CanonicalizedResource` (compared lower-cased): the
/// OBS API reference's list with the Go SDK's additions.
pub const SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "attname",
    "backtosource",
    "cdnnotifyconfiguration",
    "cors",
    "customdomain",
    "delete",
    "deletebucket",
    "encryption",
    "length",
    "lifecycle",
    "location",
    "logging",
    "metadata",
    "mirrorbacktosource",
    "modify",
    "name",
    "notification",
    "obscompresspolicy",
    "partnumber",
    "policy",
    "position",
    "quota",
    "rename",
    "replication",
    "requestpayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "storageclass",
    "storageinfo",
    "storagepolicy",
    "tagging",
    "torrent",
    "truncate",
    "uploadid",
    "uploads",
    "versionid",
    "versioning",
    "versions",
    "website",
    "x-image-process",
    "x-image-save-bucket",
    "x-image-save-object",
    "x-obs-security-token",
    "x-oss-process",
];

/// The two header signatures OBS accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `Authorization: OBS …`, `x-obs-*` headers.
    Obs,
    /// `Authorization: AWS …`, `x-amz-*` headers (the SDKs' "v2" signature).
    Aws,
}

impl Dialect {
    /// The word opening the `Authorization` value.
    pub fn scheme(self) -> &'static str {
        match self {
            Dialect::Obs => "OBS",
            Dialect::Aws => "AWS",
        }
    }

    /// The prefix of the headers in `CanonicalizedHeaders`.
    pub fn header_prefix(self) -> &'static str {
        match self {
            Dialect::Obs => "x-obs-",
            Dialect::Aws => "x-amz-",
        }
    }

    /// The header that replaces `Date`.
    pub fn date_header(self) -> &'static str {
        match self {
            Dialect::Obs => "x-obs-date",
            Dialect::Aws => "x-amz-date",
        }
    }

    /// The header carrying the security token of temporary keys.
    pub fn token_header(self) -> &'static str {
        match self {
            Dialect::Obs => "x-obs-security-token",
            Dialect::Aws => "x-amz-security-token",
        }
    }
}

/// `CanonicalizedResource`: the path as sent, then the sub-resources of `query` (decoded
/// pairs), first occurrence of each, sorted by name, as `?name=value&name`.
pub fn canonical_resource(raw_path: &str, query: &[(String, String)]) -> String {
    let mut subs: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in query {
        let lower = k.to_ascii_lowercase();
        if SUB_RESOURCES.contains(&lower.as_str()) || lower.starts_with("x-obs-") {
            subs.entry(k.as_str()).or_insert(v.as_str());
        }
    }
    let mut out = raw_path.to_string();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The string to sign. `headers` are every header of the request as `(name, value)` (any case,
/// repeated names allowed); `resource` is the [`canonical_resource`].
pub fn string_to_sign(
    dialect: Dialect,
    method: &str,
    headers: &[(String, String)],
    resource: &str,
) -> String {
    let first = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    };
    let mut canonical: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (k, v) in headers {
        let name = k.trim().to_ascii_lowercase();
        if name.starts_with(dialect.header_prefix()) {
            canonical.entry(name).or_default().push(v.trim());
        }
    }
    let date = if canonical.contains_key(dialect.date_header()) {
        ""
    } else {
        first("date")
    };
    let mut out = format!(
        "{method}\n{}\n{}\n{date}\n",
        first("content-md5"),
        first("content-type")
    );
    for (name, values) in &canonical {
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push_str(resource);
    out
}

/// `Base64(HMAC-SHA1(SK, StringToSign))`.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Reads `OBS <AK>:<Signature>` (or `AWS …`) back; `None` when it is neither or malformed.
pub fn parse_authorization(value: &str) -> Option<(Dialect, &str, &str)> {
    let (dialect, rest) = if let Some(rest) = value.strip_prefix("OBS ") {
        (Dialect::Obs, rest)
    } else {
        (Dialect::Aws, value.strip_prefix("AWS ")?)
    };
    let (ak, sig) = rest.trim().split_once(':')?;
    (!ak.is_empty() && !sig.is_empty()).then_some((dialect, ak, sig))
}

/// Whether an `Authorization` value is an OBS header signature (either form).
pub fn is_obs_authorization(value: &str) -> bool {
    value.starts_with("OBS ") || value.starts_with("AWS ")
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses an RFC 1123 date, `Sat, 12 Oct 2015 08:12:38 GMT`, to unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let rest = s.split_once(", ").map_or(s, |(_, r)| r);
    let mut parts = rest.split_ascii_whitespace();
    let day: u8 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u8 + 1;
    let year: i32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u8>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let t = time::Time::from_hms(h, m, sec).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// An OBS error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObsError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Further elements after `HostId` (`Key`, `BucketName`, `StringToSign`, …).
    pub extra: Vec<(&'static str, String)>,
}

impl ObsError {
    fn new(status: u16, code: &'static str, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_string(),
            extra: Vec::new(),
        }
    }

    fn with(mut self, element: &'static str, value: &str) -> Self {
        self.extra.push((element, value.to_string()));
        self
    }

    fn access_denied() -> Self {
        Self::new(403, "AccessDenied", "Access Denied")
    }

    /// The XML body.
    pub fn xml(&self, request_id: &str, host_id: &str) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
             <RequestId>{}</RequestId><HostId>{}</HostId>",
            self.code,
            xml_escape(&self.message),
            xml_escape(request_id),
            xml_escape(host_id)
        );
        for (element, value) in &self.extra {
            out.push_str(&format!("<{element}>{}</{element}>", xml_escape(value)));
        }
        out.push_str("</Error>");
        out
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// What the OBS side needs of a request.
#[derive(Debug, Clone)]
pub struct ObsRequest<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub raw_path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Every header, `(name, value)`, repeated names allowed.
    pub headers: &'a [(String, String)],
}

impl ObsRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The bucket and the decoded object key (empty for a bucket-level call).
    fn bucket_and_key(&self) -> (String, String) {
        let mut segments = self.raw_path.split('/').skip(1).map(uri_decode);
        let bucket = segments.next().unwrap_or_default();
        (bucket, segments.collect::<Vec<_>>().join("/"))
    }

    fn dialect(&self) -> Option<Dialect> {
        self.header("authorization")
            .and_then(parse_authorization)
            .map(|(d, _, _)| d)
    }
}

/// Checks a request's header signature as OBS does.
pub fn authenticate(
    credentials: &[SimCredential],
    req: &ObsRequest<'_>,
    now_unix: i64,
) -> Result<(), ObsError> {
    let Some(auth) = req.header("authorization") else {
        return Err(ObsError::access_denied());
    };
    let (dialect, ak, provided) = parse_authorization(auth)
        .ok_or_else(|| ObsError::new(403, "AccessDenied", "Authorization header is malformed"))?;
    let unknown_key = || {
        ObsError::new(
            403,
            "InvalidAccessKeyId",
            "The access key Id you provided does not exist in our records.",
        )
        .with("AccessKeyId", ak)
    };
    let cred = credentials
        .iter()
        .find(|c| c.ak == ak)
        .ok_or_else(unknown_key)?;
    let date = req
        .header(dialect.date_header())
        .or_else(|| req.header("date"))
        .ok_or_else(|| {
            ObsError::new(
                403,
                "AccessDenied",
                "Authentication requires a valid Date or x-obs-date header",
            )
        })?;
    let signed_at = parse_http_date(date).ok_or_else(|| {
        ObsError::new(
            403,
            "AccessDenied",
            "Authentication requires a valid Date or x-obs-date header",
        )
    })?;
    if signed_at - now_unix > MAX_SKEW_SECS {
        return Err(ObsError::new(
            403,
            "RequestTimeTooSkewed",
            "Request is not yet valid.",
        ));
    }
    if now_unix - signed_at > MAX_SKEW_SECS {
        return Err(ObsError::new(
            403,
            "RequestTimeTooSkewed",
            "Request is no longer valid.",
        ));
    }
    if let Some(token) = &cred.security_token {
        match req.header(dialect.token_header()) {
            None => return Err(unknown_key()),
            Some(sent) if !constant_time_eq(sent.as_bytes(), token.as_bytes()) => {
                return Err(ObsError::new(
                    400,
                    "InvalidToken",
                    "The provided token is malformed or otherwise invalid.",
                ))
            }
            Some(_) => {}
        }
    }
    let resource = canonical_resource(req.raw_path, req.query);
    let sts = string_to_sign(dialect, req.method, req.headers, &resource);
    let expected = signature(&cred.sk, &sts);
    if constant_time_eq(expected.as_bytes(), provided.as_bytes()) {
        Ok(())
    } else {
        Err(ObsError::new(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        )
        .with("AccessKeyId", ak)
        .with("SignatureProvided", provided)
        .with("StringToSign", &sts))
    }
}

#[derive(Debug, Clone)]
struct StoredObject {
    body: Vec<u8>,
    denied: bool,
    modified_unix: i64,
}

/// The account's buckets and objects. A bucket exists once an object names it.
#[derive(Debug, Clone, Default)]
pub struct ObjectStore {
    buckets: BTreeMap<String, BTreeMap<String, StoredObject>>,
}

impl ObjectStore {
    /// The seeded objects (a key given twice: the last wins).
    pub fn new(objects: &[SimObject], now_unix: i64) -> Self {
        let mut store = Self::default();
        for o in objects {
            store.put(&o.bucket, &o.key, o.body.clone(), o.denied, now_unix);
        }
        store
    }

    /// Stores (or replaces) an object.
    pub fn put(&mut self, bucket: &str, key: &str, body: Vec<u8>, denied: bool, now_unix: i64) {
        self.buckets.entry(bucket.to_string()).or_default().insert(
            key.to_string(),
            StoredObject {
                body,
                denied,
                modified_unix: now_unix,
            },
        );
    }

    /// Whether `bucket` exists.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.buckets.contains_key(bucket)
    }

    fn get(&self, bucket: &str, key: &str) -> Result<&StoredObject, ObsError> {
        let objects = self.buckets.get(bucket).ok_or_else(|| {
            ObsError::new(404, "NoSuchBucket", "The specified bucket does not exist.")
                .with("BucketName", bucket)
        })?;
        let object = objects.get(key).ok_or_else(|| {
            ObsError::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
        })?;
        if object.denied {
            return Err(ObsError::access_denied());
        }
        Ok(object)
    }
}

/// Whether a request is for OBS: an OBS `Authorization`, or (unsigned) a path whose first
/// segment is an existing bucket. CDN and CSMS calls carry `SDK-HMAC-SHA256`.
pub(super) fn claims(
    authorization: Option<&str>,
    first_segment: &str,
    store: &ObjectStore,
) -> bool {
    match authorization {
        Some(a) if is_obs_authorization(a) => true,
        Some(a) if a.starts_with(crate::huawei::sign::ALGORITHM) => false,
        _ => store.has_bucket(first_segment),
    }
}

/// Answers one OBS call with request id `rid`; the flag says whether its signature was refused.
pub(super) fn answer(
    objects: &ObjectStore,
    credentials: &[SimCredential],
    req: &ObsRequest<'_>,
    now_unix: i64,
    rid: &str,
) -> (Response<Full<Bytes>>, bool) {
    let mut refused = false;
    let outcome = match authenticate(credentials, req, now_unix) {
        Err(e) => {
            refused = true;
            Err(e)
        }
        Ok(()) => get_object(objects, req),
    };
    let (bucket, key) = req.bucket_and_key();
    let response = match outcome {
        Ok((body, modified)) => {
            let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
            base_response(200, rid, req.dialect(), now_unix)
                .header("content-type", "application/octet-stream")
                .header("etag", etag)
                .header("last-modified", crate::clock::http_date(modified))
                .body(Full::new(Bytes::from(body)))
                .expect("valid response")
        }
        Err(e) => {
            tracing::info!(target: "sim", service = "obs", code = e.code, bucket, key, "refused");
            let host_id = base64::engine::general_purpose::STANDARD.encode(rid);
            base_response(e.status, rid, req.dialect(), now_unix)
                .header("content-type", "application/xml")
                .body(Full::new(Bytes::from(e.xml(rid, &host_id))))
                .expect("valid response")
        }
    };
    let status = response.status().as_u16();
    tracing::info!(target: "sim", service = "obs", bucket, key, status, request_id = %rid, "call");
    (response, refused)
}

/// GetObject once the signature is accepted: the body and its last-modified time.
fn get_object(objects: &ObjectStore, req: &ObsRequest<'_>) -> Result<(Vec<u8>, i64), ObsError> {
    let (bucket, key) = req.bucket_and_key();
    if req.method != "GET" {
        return Err(ObsError::new(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ));
    }
    if key.is_empty() {
        if !objects.has_bucket(&bucket) {
            return Err(
                ObsError::new(404, "NoSuchBucket", "The specified bucket does not exist.")
                    .with("BucketName", &bucket),
            );
        }
        return Err(ObsError::new(
            501,
            "NotImplemented",
            "The simulator serves GetObject only.",
        ));
    }
    let object = objects.get(&bucket, &key)?;
    Ok((object.body.clone(), object.modified_unix))
}

fn base_response(
    status: u16,
    request_id: &str,
    dialect: Option<Dialect>,
    now_unix: i64,
) -> hyper::http::response::Builder {
    let id2 = base64::engine::general_purpose::STANDARD.encode(format!("sim-{request_id}"));
    let mut b = Response::builder()
        .status(status)
        .header("x-obs-request-id", request_id)
        .header("x-obs-id-2", &id2)
        .header("date", crate::clock::http_date(now_unix));
    if dialect == Some(Dialect::Aws) {
        b = b
            .header("x-amz-request-id", request_id)
            .header("x-amz-id-2", &id2);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::http_date;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The S3 v2 example (same algorithm as OBS's): a known string-to-sign/signature pair.
    #[test]
    fn aws_v2_known_answer() {
        let headers = h(&[("Date", "Tue, 27 Mar 2007 19:36:42 +0000")]);
        let sts = string_to_sign(Dialect::Aws, "GET", &headers, "/johnsmith/photos/puppy.jpg");
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(
            signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
        );
    }

    /// The StringToSign examples of the OBS API reference (obs_04_0010, tables 2, 3, 4, 6).
    #[test]
    fn documented_strings_to_sign() {
        let get = h(&[
            ("Host", "bucket.obs.region.example.com"),
            ("Date", "Sat, 12 Oct 2015 08:12:38 GMT"),
        ]);
        assert_eq!(
            string_to_sign(Dialect::Obs, "GET", &get, "/bucket/object.txt"),
            "GET\n\n\nSat, 12 Oct 2015 08:12:38 GMT\n/bucket/object.txt"
        );
        let token = h(&[
            ("User-Agent", "curl/7.15.5"),
            ("x-obs-date", "Tue, 15 Oct 2015 07:20:09 GMT"),
            ("x-obs-security-token", "YwkaRTbdY8g7q...."),
            ("content-type", "text/plain"),
            ("Content-Length", "5913339"),
        ]);
        let sts = string_to_sign(Dialect::Obs, "PUT", &token, "/bucket/object.txt");
        assert_eq!(
            sts,
            "PUT\n\ntext/plain\n\nx-obs-date:Tue, 15 Oct 2015 07:20:09 GMT\n\
             x-obs-security-token:YwkaRTbdY8g7q....\n/bucket/object.txt"
        );
        // Computed independently (Python hmac/hashlib) with the SK of the reference's example.
        assert_eq!(
            signature("275hSvB6EEOorBNsMDEfOaICQnilYaPZhXUaSK64", &sts),
            "LpxHChfgKyOTcftR/hWkz8JrWUs="
        );
        let acl = h(&[
            ("Date", "Mon, 14 Oct 2015 12:08:34 GMT"),
            ("x-obs-acl", " public-read"),
            ("content-type", "text/plain"),
        ]);
        assert_eq!(
            string_to_sign(Dialect::Obs, "PUT", &acl, "/bucket/object.txt"),
            "PUT\n\ntext/plain\nMon, 14 Oct 2015 12:08:34 GMT\nx-obs-acl:public-read\n/bucket/object.txt"
        );
        let md5 = h(&[
            ("x-obs-date", "Tue, 15 Oct 2015 07:20:09 GMT"),
            ("Content-MD5", "I5pU0r4+sgO9Emgl1KMQUg=="),
            ("Date", "Tue, 15 Oct 2015 07:20:09 GMT"),
        ]);
        assert_eq!(
            string_to_sign(Dialect::Obs, "PUT", &md5, "/bucket/object.txt"),
            "PUT\nI5pU0r4+sgO9Emgl1KMQUg==\n\n\nx-obs-date:Tue, 15 Oct 2015 07:20:09 GMT\n/bucket/object.txt"
        );
    }

    /// Repeated headers merge with `,`, names sort, other prefixes stay out (the reference's
    /// Java example: `x-obs-meta-key2: value2, value3` and `?acl`).
    #[test]
    fn canonical_headers_and_resource() {
        let headers = h(&[
            ("X-Obs-Meta-Key2", "value2"),
            ("x-obs-acl", "public-read"),
            ("x-amz-acl", "private"),
            ("x-obs-meta-key1", "value1"),
            ("x-obs-meta-key2", "value3"),
            ("date", "Sat, 12 Oct 2015 08:12:38 GMT"),
        ]);
        let resource = canonical_resource("/bucket-test/hello.jpg", &h(&[("acl", "")]));
        assert_eq!(
            string_to_sign(Dialect::Obs, "PUT", &headers, &resource),
            "PUT\n\n\nSat, 12 Oct 2015 08:12:38 GMT\nx-obs-acl:public-read\n\
             x-obs-meta-key1:value1\nx-obs-meta-key2:value2,value3\n/bucket-test/hello.jpg?acl"
        );
        let query = h(&[
            ("versionId", "xxx"),
            ("foo", "bar"),
            ("response-content-type", "text/plain"),
            ("versionId", "yyy"),
        ]);
        assert_eq!(
            canonical_resource("/bucket-test/object-test", &query),
            "/bucket-test/object-test?response-content-type=text/plain&versionId=xxx"
        );
        assert_eq!(
            canonical_resource("/b/dir/my%20cert.pem", &[]),
            "/b/dir/my%20cert.pem"
        );
    }

    #[test]
    fn authorization_header() {
        assert_eq!(
            parse_authorization("OBS AK:c2ln="),
            Some((Dialect::Obs, "AK", "c2ln="))
        );
        assert_eq!(
            parse_authorization("AWS AK:c2ln="),
            Some((Dialect::Aws, "AK", "c2ln="))
        );
        assert_eq!(parse_authorization("OBS AK"), None);
        assert_eq!(parse_authorization("SDK-HMAC-SHA256 Access=AK"), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sat, 12 Oct 2015 08:12:38 GMT"),
            Some(1_444_637_558)
        );
        assert_eq!(http_date(1_444_637_558), "Mon, 12 Oct 2015 08:12:38 GMT");
        assert_eq!(
            parse_http_date(&http_date(1_700_000_000)),
            Some(1_700_000_000)
        );
        assert_eq!(parse_http_date("Sat, 12 Oct 2015 08:12:38 +0000"), None);
        assert_eq!(parse_http_date("20151012T081238Z"), None);
    }

    const NOW: i64 = 1_700_000_000;

    fn cred(token: Option<&str>) -> Vec<SimCredential> {
        vec![SimCredential {
            ak: "AK".into(),
            sk: "SK".into(),
            security_token: token.map(str::to_string),
            denied: Vec::new(),
        }]
    }

    /// Headers of a GET signed with `sk` at `at`.
    fn signed(sk: &str, path: &str, at: i64, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers = h(extra);
        headers.push(("Date".into(), http_date(at)));
        let sts = string_to_sign(Dialect::Obs, "GET", &headers, path);
        headers.push((
            "Authorization".into(),
            format!("OBS AK:{}", signature(sk, &sts)),
        ));
        headers
    }

    fn check(
        creds: &[SimCredential],
        path: &str,
        headers: &[(String, String)],
    ) -> Result<(), ObsError> {
        let req = ObsRequest {
            method: "GET",
            raw_path: path,
            query: &[],
            headers,
        };
        authenticate(creds, &req, NOW)
    }

    #[test]
    fn authentication() {
        let path = "/b/certs/my%20cert.pem";
        assert_eq!(
            check(&cred(None), path, &signed("SK", path, NOW, &[])),
            Ok(())
        );
        let code = |r: Result<(), ObsError>| r.unwrap_err().code;
        assert_eq!(
            code(check(&cred(None), path, &signed("bad", path, NOW, &[]))),
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            code(check(
                &cred(None),
                "/b/other",
                &signed("SK", path, NOW, &[])
            )),
            "SignatureDoesNotMatch"
        );
        let mut other_key = cred(None);
        other_key[0].ak = "OTHER".into();
        assert_eq!(
            code(check(&other_key, path, &signed("SK", path, NOW, &[]))),
            "InvalidAccessKeyId"
        );
        assert_eq!(
            code(check(
                &cred(None),
                path,
                &signed("SK", path, NOW - 16 * 60, &[])
            )),
            "RequestTimeTooSkewed"
        );
        assert_eq!(
            code(check(
                &cred(None),
                path,
                &signed("SK", path, NOW + 16 * 60, &[])
            )),
            "RequestTimeTooSkewed"
        );
        assert_eq!(code(check(&cred(None), path, &[])), "AccessDenied");

        let token = cred(Some("TOKEN"));
        let with = signed("SK", path, NOW, &[("x-obs-security-token", "TOKEN")]);
        assert_eq!(check(&token, path, &with), Ok(()));
        assert_eq!(
            code(check(&token, path, &signed("SK", path, NOW, &[]))),
            "InvalidAccessKeyId"
        );
        let wrong = signed("SK", path, NOW, &[("x-obs-security-token", "OTHER")]);
        assert_eq!(code(check(&token, path, &wrong)), "InvalidToken");
    }

    /// `x-obs-date` dates the request and empties `Date` in the string to sign.
    #[test]
    fn obs_date_replaces_date() {
        let path = "/b/k";
        let mut headers = h(&[
            ("x-obs-date", &http_date(NOW)),
            ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ]);
        let sts = string_to_sign(Dialect::Obs, "GET", &headers, path);
        assert!(sts.starts_with("GET\n\n\n\nx-obs-date:"));
        headers.push((
            "Authorization".into(),
            format!("OBS AK:{}", signature("SK", &sts)),
        ));
        assert_eq!(check(&cred(None), path, &headers), Ok(()));
    }

    #[test]
    fn error_xml() {
        let e =
            ObsError::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", "a&b");
        assert_eq!(
            e.xml("RID", "HID"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message><RequestId>RID</RequestId>\
             <HostId>HID</HostId><Key>a&amp;b</Key></Error>"
        );
    }
}
