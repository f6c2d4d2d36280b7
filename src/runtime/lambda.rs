//! The AWS Lambda shell: lambda_runtime's loop around the one application.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use super::logging;
use crate::app::{App, Context};

/// Time kept back before the platform's deadline, so the answer always gets out.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(2500);
/// The budget when the deadline is unknown (a local emulator sends one already past).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(900);

/// The budget a deadline (ms since the epoch) leaves at `now_ms`, less the safety margin.
pub fn budget_from_deadline(deadline_ms: u64, now_ms: u64) -> Duration {
    if deadline_ms <= now_ms {
        return DEFAULT_BUDGET;
    }
    Duration::from_millis(deadline_ms - now_ms)
        .saturating_sub(SAFETY_MARGIN)
        .max(Duration::from_millis(500))
}

/// Serves invocations until the runtime stops the process. lambda_runtime's loop ends on a
/// failed poll of `/next` (and panics on an answer without a request id, such as a 500): that is
/// a transient fault of the runtime API, so the loop runs in a task of its own and starts again
/// after a pause rather than ending the process.
pub async fn run(app: App) -> Result<(), lambda_runtime::Error> {
    let app = Arc::new(app);
    let mut failures = 0u32;
    loop {
        let app = app.clone();
        let served = tokio::spawn(lambda_runtime::run(service_fn(
            move |event: LambdaEvent<Value>| {
                let app = app.clone();
                async move { handle(&app, event).await }
            },
        )))
        .await;
        let error = match served {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(panicked) => panicked.to_string(),
        };
        failures = failures.saturating_add(1);
        tracing::warn!(error = %error, failures, "the Lambda runtime API failed; polling again");
        let ms = (100u64 << failures.min(6)).min(5_000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let received = tokio::time::Instant::now();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let budget = budget_from_deadline(event.context.deadline, now_ms);
    tracing::info!(request_id = %event.context.request_id, budget_ms = budget.as_millis() as u64, "Lambda invocation");
    let reply = app
        .invoke(
            event.payload,
            Context {
                platform_budget: budget,
                received,
                credentials: None,
            },
        )
        .await;
    if let Some(record) = &reply.metrics {
        logging::write_metrics(record);
    }
    if reply.invocation_error {
        return Err(Diagnostic {
            error_type: if reply.exit_code == crate::handler::EXIT_INVALID {
                "InvalidRequest".into()
            } else {
                "DeployNotOk".into()
            },
            error_message: reply.body.to_string(),
        });
    }
    Ok(reply.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_from_the_deadline() {
        assert_eq!(budget_from_deadline(1_000, 2_000), DEFAULT_BUDGET);
        assert_eq!(budget_from_deadline(0, 2_000), DEFAULT_BUDGET);
        assert_eq!(
            budget_from_deadline(62_500, 2_500),
            Duration::from_secs(57_500 / 1000) + Duration::from_millis(500)
        );
        assert_eq!(
            budget_from_deadline(3_000, 2_900),
            Duration::from_millis(500)
        );
    }
}
