//! The certificate stores, both providers in one place: AWS Secrets Manager, S3 and SSM
//! ([`aws`], signed with SigV4) and Huawei CSMS and OBS ([`huawei`]), each read over
//! [`crate::transport`].

pub mod aws;
pub mod huawei;
