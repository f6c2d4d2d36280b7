//! One CloudWatch Embedded Metric Format record per run (SPEC section 9): a JSON log line that
//! CloudWatch Logs turns into metrics (namespace `CdnCertDeploy`), so a Lambda user gets graphs
//! and alarms with no call of the function's own. On FunctionGraph the same line lands in LTS.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
//! Building the record is pure; the platform shells write it.

use serde_json::{json, Map, Value};

use crate::result::DeployResult;

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "CdnCertDeploy";

/// The dimension the metrics carry, so that two functions in one account stay apart.
pub const DIMENSION: &str = "FunctionName";

/// The metric names, in the order they are declared, each with its unit.
pub const METRICS: [(&str, &str); 9] = [
    ("Deployed", "Count"),
    ("Unchanged", "Count"),
    ("Pending", "Count"),
    ("Failed", "Count"),
    ("Skipped", "Count"),
    ("Expiring", "Count"),
    ("ApiCalls", "Count"),
    ("Throttled", "Count"),
    ("ElapsedMs", "Milliseconds"),
];

/// What a run did besides its result: the CDN calls it made and how many were answered 429.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub made: u64,
    pub throttled: u64,
}

/// The record of a run: `result`'s counts, `calls`, for `function_name`, at `timestamp_ms`.
pub fn emf_record(
    result: &DeployResult,
    calls: Calls,
    function_name: &str,
    timestamp_ms: i64,
) -> Value {
    let s = &result.summary;
    let expiring = result.domains.iter().filter(|d| d.expiring).count();
    let values: [u64; 9] = [
        s.deployed as u64,
        s.unchanged as u64,
        s.pending as u64,
        s.failed as u64,
        s.skipped as u64,
        expiring as u64,
        calls.made,
        calls.throttled,
        result.elapsed_ms,
    ];
    let definitions: Vec<Value> = METRICS
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut record = Map::new();
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    record.insert(DIMENSION.into(), json!(function_name));
    for ((name, _), value) in METRICS.iter().zip(values) {
        record.insert((*name).into(), json!(value));
    }
    Value::Object(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{DomainResult, ErrorInfo, RunMode, Status};

    fn domain(name: &str, status: Status, expiring: bool) -> DomainResult {
        let mut d = DomainResult::skipped(name, ErrorInfo::upstream("x", "x", false));
        d.status = status;
        d.error = None;
        d.expiring = expiring;
        d
    }

    #[test]
    fn a_valid_record_with_the_run_s_counts() {
        let result = DeployResult::new(
            vec![
                domain("a.example.com", Status::Deployed, false),
                domain("b.example.com", Status::Failed, true),
                domain("c.example.com", Status::Pending, true),
                domain("d.example.com", Status::Unchanged, false),
            ],
            RunMode::Deploy,
            None,
            8123,
            600_000,
            None,
        );
        let calls = Calls {
            made: 17,
            throttled: 2,
        };
        let r = emf_record(&result, calls, "cdn-cert-deploy-prod", 1_764_000_000_000);
        // The specification's structure: _aws with an integer Timestamp, one directive whose
        // dimensions and metrics all name members of the root holding numbers (strings for
        // dimensions).
        let aws = &r["_aws"];
        assert_eq!(aws["Timestamp"], 1_764_000_000_000i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CdnCertDeploy");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(r["FunctionName"], "cdn-cert-deploy-prod");
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert!(r[m["Name"].as_str().unwrap()].is_u64(), "{m}");
                m["Name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                "Deployed",
                "Unchanged",
                "Pending",
                "Failed",
                "Skipped",
                "Expiring",
                "ApiCalls",
                "Throttled",
                "ElapsedMs"
            ]
        );
        let counts: Vec<u64> = names.iter().map(|n| r[*n].as_u64().unwrap()).collect();
        assert_eq!(counts, [1, 1, 1, 1, 0, 2, 17, 2, 8123]);
        // One line of JSON, as CloudWatch Logs reads it.
        assert!(!r.to_string().contains('\n'));
    }
}
