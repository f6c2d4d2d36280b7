//! The platform shells around the one application: the `invoke` and `doctor` command line
//! ([`cli`]), the AWS Lambda runtime loop ([`lambda`]), the FunctionGraph custom runtime loop
//! ([`functiongraph`]), and the logging setup ([`logging`]).

pub mod cli;
pub mod functiongraph;
pub mod lambda;
pub mod logging;
