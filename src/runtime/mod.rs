//! The platform shells around the one handler: the `invoke` command line and the logging setup.

pub mod cli;
pub mod logging;
