//! Huawei Cloud: request signing, credentials, the CDN API client and its data model.

pub mod cdn;
pub mod credential;
pub mod error;
pub mod model;
pub mod quota;
pub mod sign;
