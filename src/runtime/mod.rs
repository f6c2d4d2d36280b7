//! The platform shells around the one application: the `invoke` command line, the AWS Lambda
//! runtime loop, the FunctionGraph custom runtime loop, and the logging setup.

pub mod cli;
pub mod functiongraph;
pub mod lambda;
pub mod logging;
