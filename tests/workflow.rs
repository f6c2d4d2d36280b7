//! The Step Functions workflow (`workflow/deploy.asl.json`, `DeployWorkflow` in template.yaml)
//! run against the real function: a small interpreter of the states and intrinsics the
//! definition uses (Pass, Task, Choice, Wait, Map, Fail; JsonMerge, MathAdd, ArrayLength,
//! JsonToString, Format) walks it, invoking the function in-process against the simulator, so the `Map` and
//! `Choice` paths are checked against real results, not against what we think a result holds.

mod common;

use std::time::Duration;

use cdn_cert_deploy::app::{App, Context};
use cdn_cert_deploy::event::Platform;
use cdn_cert_deploy::sim::Simulator;
use common::*;
use serde_json::{json, Map, Value};

const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:cdn-notices";

/// What the workflow did besides its output.
#[derive(Default)]
struct Trace {
    /// (account name, the request sent to the function)
    invocations: Vec<(String, Value)>,
    /// (account name, the function's answer)
    answers: Vec<(String, Value)>,
    waits: Vec<u64>,
    published: Vec<Value>,
}

struct Machine<'a> {
    app: &'a App,
    trace: Trace,
}

/// A JSONPath of the forms the definition uses: `$`, `$.a.b`, `$.a[0]`; `None` when absent.
fn get(doc: &Value, path: &str) -> Option<Value> {
    let rest = path.strip_prefix('$')?;
    let mut cur = doc;
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (part, None),
        };
        cur = cur.get(key)?;
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur.clone())
}

/// Sets `value` at a ResultPath (`$`, `$.a.b`), creating objects on the way.
fn set(doc: &mut Value, path: &str, value: Value) {
    if path == "$" {
        *doc = value;
        return;
    }
    let parts: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
    let mut cur = doc;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .as_object_mut()
            .expect("an object on the path")
            .entry(p.to_string())
            .or_insert_with(|| json!({}));
    }
    cur.as_object_mut()
        .expect("an object")
        .insert(parts[parts.len() - 1].to_string(), value);
}

/// A path (`$.`/`$$.`) or an intrinsic function call, as a `.$` field holds it.
fn eval(expr: &str, input: &Value, ctx: &Value) -> Value {
    let expr = expr.trim();
    if let Some(p) = expr.strip_prefix("$$") {
        return get(ctx, &format!("${p}"))
            .unwrap_or_else(|| panic!("{expr} is not in the context"));
    }
    if expr.starts_with('$') {
        return get(input, expr).unwrap_or_else(|| panic!("{expr} is not in {input}"));
    }
    if let Some(s) = expr.strip_prefix('\'') {
        return Value::String(s.trim_end_matches('\'').to_string());
    }
    if let Ok(n) = expr.parse::<i64>() {
        return json!(n);
    }
    if expr == "true" || expr == "false" {
        return json!(expr == "true");
    }
    let (name, args) = expr
        .strip_suffix(')')
        .and_then(|e| e.split_once('('))
        .unwrap_or_else(|| panic!("not an intrinsic: {expr}"));
    let args: Vec<Value> = split_args(args)
        .iter()
        .map(|a| eval(a, input, ctx))
        .collect();
    match name {
        "States.JsonMerge" => {
            let mut out = args[0].as_object().expect("JsonMerge of objects").clone();
            out.extend(args[1].as_object().expect("JsonMerge of objects").clone());
            Value::Object(out)
        }
        "States.MathAdd" => json!(args[0].as_i64().unwrap() + args[1].as_i64().unwrap()),
        "States.ArrayLength" => json!(args[0].as_array().expect("an array").len()),
        "States.JsonToString" => json!(args[0].to_string()),
        "States.Format" => {
            let mut text = args[0].as_str().unwrap().to_string();
            for a in &args[1..] {
                let shown = a.as_str().map_or_else(|| a.to_string(), str::to_string);
                text = text.replacen("{}", &shown, 1);
            }
            json!(text)
        }
        other => panic!("intrinsic {other} is not known to this interpreter"),
    }
}

/// Splits an intrinsic's arguments at the commas outside quotes and parentheses.
fn split_args(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// A Parameters / ItemSelector / ResultSelector template applied to `input`.
fn template(t: &Value, input: &Value, ctx: &Value) -> Value {
    match t {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                match k.strip_suffix(".$") {
                    Some(k) => out.insert(k.to_string(), eval(v.as_str().unwrap(), input, ctx)),
                    None => out.insert(k.clone(), template(v, input, ctx)),
                };
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn choose(rule: &Value, input: &Value) -> bool {
    if let Some(all) = rule.get("And") {
        return all.as_array().unwrap().iter().all(|r| choose(r, input));
    }
    if let Some(any) = rule.get("Or") {
        return any.as_array().unwrap().iter().any(|r| choose(r, input));
    }
    if let Some(not) = rule.get("Not") {
        return !choose(not, input);
    }
    let var = get(input, rule["Variable"].as_str().unwrap());
    if let Some(present) = rule.get("IsPresent") {
        return var.is_some() == present.as_bool().unwrap();
    }
    let var = var.expect("a compared variable is present");
    if let Some(numeric) = rule.get("IsNumeric") {
        return var.is_number() == numeric.as_bool().unwrap();
    }
    // AWS fails the execution on a numeric comparison of a value that is not a number.
    let number = || var.as_f64().expect("a numeric comparison of a number");
    if let Some(p) = rule.get("NumericLessThanPath") {
        return number() < get(input, p.as_str().unwrap()).unwrap().as_f64().unwrap();
    }
    if let Some(n) = rule.get("NumericLessThan") {
        return number() < n.as_f64().unwrap();
    }
    if let Some(n) = rule.get("NumericGreaterThan") {
        return number() > n.as_f64().unwrap();
    }
    if let Some(s) = rule.get("StringEquals") {
        return var == *s;
    }
    panic!("a Choice rule this interpreter does not know: {rule}")
}

impl Machine<'_> {
    /// Runs a state machine (or a Map's processor) on `input`: its output, or the error of the
    /// Fail state that ended it (`{"Error", "Cause"}`; a Map ends with its first item's).
    async fn run(&mut self, def: &Value, mut input: Value, ctx: &Value) -> Result<Value, Value> {
        let mut name = def["StartAt"].as_str().unwrap().to_string();
        loop {
            let state = &def["States"][&name];
            assert!(state.is_object(), "no state {name}");
            let kind = state["Type"].as_str().unwrap();
            let next = match kind {
                "Pass" => {
                    let result = match (state.get("Result"), state.get("Parameters")) {
                        (Some(r), _) => r.clone(),
                        (None, Some(p)) => template(p, &input, ctx),
                        (None, None) => input.clone(),
                    };
                    input = place(state, input, result);
                    state.get("Next")
                }
                "Task" => {
                    let params = template(&state["Parameters"], &input, ctx);
                    match self
                        .task(state["Resource"].as_str().unwrap(), params, &input)
                        .await
                    {
                        Ok(result) => {
                            let result = match state.get("ResultSelector") {
                                Some(s) => template(s, &result, ctx),
                                None => result,
                            };
                            input = place(state, input, result);
                            state.get("Next")
                        }
                        Err(error) => {
                            let catch = &state["Catch"][0];
                            assert_eq!(catch["ErrorEquals"], json!(["States.ALL"]));
                            set(&mut input, catch["ResultPath"].as_str().unwrap(), error);
                            catch.get("Next")
                        }
                    }
                }
                "Choice" => {
                    let rules = state["Choices"].as_array().unwrap();
                    Some(
                        rules
                            .iter()
                            .find(|r| choose(r, &input))
                            .map(|r| &r["Next"])
                            .unwrap_or(&state["Default"]),
                    )
                }
                "Wait" => {
                    let secs = get(&input, state["SecondsPath"].as_str().unwrap())
                        .and_then(|v| v.as_u64())
                        .expect("SecondsPath is a number");
                    self.trace.waits.push(secs);
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                    state.get("Next")
                }
                "Map" => {
                    let items = get(&input, state["ItemsPath"].as_str().unwrap()).unwrap();
                    let mut outputs = Vec::new();
                    for (i, item) in items.as_array().unwrap().iter().enumerate() {
                        let ctx = json!({"Map": {"Item": {"Index": i, "Value": item}}});
                        let selected = template(&state["ItemSelector"], &input, &ctx);
                        let processor = state["ItemProcessor"].clone();
                        outputs.push(Box::pin(self.run(&processor, selected, &ctx)).await?);
                    }
                    input = place(state, input, Value::Array(outputs));
                    state.get("Next")
                }
                "Fail" => {
                    let cause = match state.get("CausePath") {
                        Some(p) => eval(p.as_str().unwrap(), &input, ctx),
                        None => state["Cause"].clone(),
                    };
                    return Err(json!({"Error": state["Error"], "Cause": cause}));
                }
                other => panic!("state type {other} is not known to this interpreter"),
            };
            if state.get("End") == Some(&json!(true)) {
                return Ok(input);
            }
            name = next
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{name} has neither Next nor End"))
                .to_string();
        }
    }

    async fn task(&mut self, resource: &str, params: Value, input: &Value) -> Result<Value, Value> {
        match resource {
            "arn:aws:states:::lambda:invoke" => {
                assert_eq!(
                    params["FunctionName"],
                    "arn:aws:lambda:eu-west-1:123456789012:function:cdn-cert-deploy"
                );
                let payload = params["Payload"].clone();
                let name = input["name"].as_str().unwrap().to_string();
                self.trace.invocations.push((name.clone(), payload.clone()));
                if name == "crash" {
                    // As Step Functions reports a function the platform stopped.
                    return Err(json!({"Error": "Sandbox.Timedout",
                        "Cause": r#"{"errorMessage":"Task timed out after 900.00 seconds"}"#}));
                }
                let reply = self
                    .app
                    .invoke(
                        payload,
                        Context {
                            platform_budget: Duration::from_secs(840),
                            received: tokio::time::Instant::now(),
                            credentials: None,
                        },
                    )
                    .await;
                assert!(
                    !reply.invocation_error,
                    "a workflow run answers, it does not fail"
                );
                self.trace.answers.push((name, reply.body.clone()));
                Ok(json!({"Payload": reply.body, "StatusCode": 200}))
            }
            "arn:aws:states:::sns:publish" => {
                self.trace.published.push(params);
                Ok(json!({"MessageId": "m-1"}))
            }
            other => panic!("resource {other} is not known to this interpreter"),
        }
    }
}

/// Puts a state's result at its ResultPath (null: dropped), then applies its OutputPath.
fn place(state: &Value, mut input: Value, result: Value) -> Value {
    match state.get("ResultPath") {
        Some(Value::Null) => {}
        Some(Value::String(p)) => set(&mut input, p, result),
        None => input = result,
        Some(other) => panic!("ResultPath {other}"),
    }
    match state.get("OutputPath").and_then(Value::as_str) {
        Some(p) => get(&input, p).unwrap(),
        None => input,
    }
}

fn definition(topic: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflow/deploy.asl.json"
    ))
    .unwrap()
    .replace(
        "${FunctionArn}",
        "arn:aws:lambda:eu-west-1:123456789012:function:cdn-cert-deploy",
    )
    .replace("${NotifyTopicArn}", topic);
    serde_json::from_str(&text).unwrap()
}

/// Where the tests' accounts keep the certificate: a CSMS secret in the simulator (a workflow
/// input carries references, not keys).
const STORED: &str = "example-cert";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A request for `domains` whose certificate is the [`STORED`] secret.
fn stored(domains: &[&str]) -> Value {
    json!({"domains": domains,
           "certificate_source": {"type": "huawei_csms", "secret_name": STORED}})
}

async fn setup() -> (Simulator, App, TestCert) {
    let cert = example_cert();
    let sim = start(sim_config(vec![
        domain("a1.example.com", 100),
        // Live 100 s after the write: the first two attempts end before it.
        domain("slow.example.com", 100_000),
        domain("b1.example.com", 100),
        // Never live within the tests' runs.
        domain("stuck.example.com", 100_000_000),
    ]))
    .await;
    sim.put_secret(
        STORED,
        &json!({"fullchain": cert.chain, "private_key": cert.key}).to_string(),
    );
    let endpoint = sim.endpoint();
    let env = [
        ("HUAWEICLOUD_CSMS_ENDPOINT", endpoint.as_str()),
        ("HUAWEICLOUD_SDK_PROJECT_ID", PROJECT),
    ];
    let app = App {
        handler: Ok(handler_env(&sim, &env)),
        platform: Platform::Lambda,
        function_name: "cdn-cert-deploy".into(),
    };
    (sim, app, cert)
}

#[tokio::test(start_paused = true)]
async fn each_account_runs_until_nothing_is_pending_and_one_message_tells_them_all() {
    let (_sim, app, _cert) = setup().await;
    let with = |domains: &[&str], options: Value| {
        let mut r = stored(domains);
        r["options"] = options;
        r
    };
    let input = json!({"accounts": [
        {"name": "one", "request": with(&["a1.example.com", "slow.example.com"], json!({"time_budget_secs": 10}))},
        {"name": "two", "request": with(&["b1.example.com"], json!({}))},
        // fail_on_error is for direct callers: a workflow run answers (and is followed up).
        {"name": "three", "request": with(&["missing.example.com"], json!({"fail_on_error": true}))},
        {"name": "crash", "request": with(&["b1.example.com"], json!({}))},
    ]});
    let mut m = Machine {
        app: &app,
        trace: Trace::default(),
    };
    let out = m.run(&definition(TOPIC), input, &json!({})).await.unwrap();
    let accounts = out["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 4, "{out:#}");

    // Account one: slow is pending, then still pending (configuring with the certificate the
    // first attempt wrote), then live: deployed by the workflow, not "unchanged".
    let one: Vec<&Value> = m
        .trace
        .invocations
        .iter()
        .filter(|(n, _)| n == "one")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(one.len(), 3, "{one:#?}");
    assert_eq!(
        one[0]["domains"],
        json!(["a1.example.com", "slow.example.com"])
    );
    assert_eq!(one[0]["workflow"], json!({"attempt": 1}));
    for (k, follow_up) in one[1..].iter().enumerate() {
        assert_eq!(follow_up["domains"], json!(["slow.example.com"]));
        assert_eq!(follow_up["match"], "exact");
        assert_eq!(
            follow_up["certificate_source"], one[0]["certificate_source"],
            "the rest of the request is kept"
        );
        assert_eq!(follow_up["options"]["time_budget_secs"], 10);
        assert_eq!(follow_up["workflow"]["attempt"], k + 2);
        assert_eq!(
            follow_up["workflow"]["tally"]["written"],
            json!(["slow.example.com"])
        );
    }
    let answers: Vec<&Value> = m
        .trace
        .answers
        .iter()
        .filter(|(n, _)| n == "one")
        .map(|(_, a)| a)
        .collect();
    let slow = |a: &Value| a["domains"][0]["status"].as_str().unwrap().to_string();
    assert_eq!(slow(answers[0]), "pending");
    assert_eq!(slow(answers[1]), "pending", "{:#}", answers[1]);
    assert_eq!(answers[2]["summary"]["deployed"], 1, "{:#}", answers[2]);
    assert_eq!(
        answers[2]["domains"],
        json!([]),
        "live domains are left out"
    );
    assert_eq!(m.trace.waits, vec![60, 120], "60 s, then doubling");
    assert_eq!(accounts[0]["name"], "one");
    assert_eq!(accounts[0]["attempts"], 3);
    assert_eq!(accounts[0]["ok"], true, "{:#}", accounts[0]);
    // The entry covers every attempt: both domains deployed, a1 in the first.
    assert_eq!(
        accounts[0]["summary"],
        json!({"total": 2, "deployed": 2, "unchanged": 0, "pending": 0, "submitted": 0,
               "planned": 0, "failed": 0, "skipped": 0})
    );
    assert_eq!(accounts[0]["subject"], "cdn-cert-deploy: all 2 live");
    assert!(accounts[0]["digest"]
        .as_str()
        .unwrap()
        .contains("3 attempts"));

    assert_eq!(accounts[1]["attempts"], 1);
    assert_eq!(accounts[1]["ok"], true);
    assert_eq!(accounts[1]["subject"], "cdn-cert-deploy: all 1 live");

    assert_eq!(accounts[2]["ok"], false);
    assert_eq!(accounts[2]["summary"]["failed"], 1, "{:#}", accounts[2]);

    // A function the platform stopped is caught: the account is reported, the others go on.
    assert_eq!(accounts[3]["ok"], false);
    assert_eq!(accounts[3]["error"], "Sandbox.Timedout");
    assert!(accounts[3]["cause"].as_str().unwrap().contains("timed out"));

    // One message for every account, and the function told nobody itself.
    assert_eq!(m.trace.published.len(), 1);
    assert!(m
        .trace
        .answers
        .iter()
        .all(|(_, a)| a.get("notifications").is_none()));
    let msg = &m.trace.published[0];
    assert_eq!(msg["TopicArn"], TOPIC);
    assert_eq!(msg["Subject"], "cdn-cert-deploy: 4 accounts");
    let told: Value = serde_json::from_str(msg["Message"].as_str().unwrap()).unwrap();
    let names: Vec<&str> = told
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "two", "three", "crash"]);
    assert!(
        !msg.to_string().contains("PRIVATE KEY"),
        "no key in the message"
    );
}

#[test]
fn the_sample_input_holds_requests_the_function_accepts() {
    let input = load_event("workflow-input.json");
    assert!(input["max_attempts"].as_u64().is_some());
    for account in input["accounts"].as_array().unwrap() {
        assert!(account["name"].is_string());
        let (req, unknown) = cdn_cert_deploy::request::parse(
            account["request"].clone(),
            cdn_cert_deploy::request::Strictness::Strict,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", account["name"]));
        assert!(unknown.is_empty());
        assert!(
            req.huawei_credentials.is_some(),
            "each account names its keys"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn attempts_end_at_max_attempts_and_no_topic_sends_nothing() {
    let (_sim, app, _cert) = setup().await;
    let mut req = stored(&["slow.example.com"]);
    req["options"] = json!({"time_budget_secs": 5});
    let input = json!({"accounts": [{"name": "one", "request": req}], "max_attempts": 2});
    let mut m = Machine {
        app: &app,
        trace: Trace::default(),
    };
    let out = m.run(&definition(""), input, &json!({})).await.unwrap();
    let one = &out["accounts"][0];
    assert_eq!(one["attempts"], 2, "{out:#}");
    assert_eq!(one["ok"], false);
    assert_eq!(one["summary"]["pending"], 1);
    assert_eq!(m.trace.invocations.len(), 2);
    assert!(m.trace.published.is_empty());
}

#[tokio::test(start_paused = true)]
async fn waits_double_up_to_900_s_and_max_attempts_stays_within_1_to_10() {
    let (_sim, app, _cert) = setup().await;
    let mut req = stored(&["stuck.example.com"]);
    req["options"] = json!({"time_budget_secs": 5});
    let run = |max_attempts: Value| json!({"accounts": [{"name": "one", "request": req.clone()}], "max_attempts": max_attempts});
    let mut m = Machine {
        app: &app,
        trace: Trace::default(),
    };
    let out = m
        .run(&definition(""), run(json!(10)), &json!({}))
        .await
        .unwrap();
    assert_eq!(out["accounts"][0]["attempts"], 10, "{out:#}");
    assert_eq!(
        m.trace.waits,
        vec![60, 120, 240, 480, 900, 900, 900, 900, 900],
        "doubling, then at most 900 s"
    );
    for bad in [json!(11), json!(0), json!("4"), json!(1e9)] {
        let mut m = Machine {
            app: &app,
            trace: Trace::default(),
        };
        let error = m
            .run(&definition(TOPIC), run(bad.clone()), &json!({}))
            .await
            .unwrap_err();
        assert_eq!(error["Error"], "InvalidInput", "{bad}");
        assert!(error["Cause"].as_str().unwrap().contains("from 1 to 10"));
        assert!(m.trace.invocations.is_empty() && m.trace.published.is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_with_an_inline_private_key_is_refused_before_any_invocation() {
    let (_sim, app, cert) = setup().await;
    for inline in [
        request(&["a1.example.com"], &cert),
        json!({"domains": ["a1.example.com"], "cert": cert.chain, "privkey": cert.key}),
        json!({"domains": ["a1.example.com"], "crt": cert.chain, "key": cert.key}),
    ] {
        // The account with the key is the second: the first is not deployed either.
        let input = json!({"accounts": [
            {"name": "stored", "request": stored(&["b1.example.com"])},
            {"name": "inline", "request": inline},
        ]});
        let mut m = Machine {
            app: &app,
            trace: Trace::default(),
        };
        let error = m
            .run(&definition(TOPIC), input, &json!({}))
            .await
            .unwrap_err();
        assert_eq!(error["Error"], "InlinePrivateKey");
        let cause = error["Cause"].as_str().unwrap();
        assert!(cause.starts_with("account inline: "), "{cause}");
        assert!(cause.contains("certificate_source"), "{cause}");
        assert!(!cause.contains("PRIVATE KEY"), "{cause}");
        assert!(m.trace.invocations.is_empty(), "no account was invoked");
        assert!(m.trace.published.is_empty());
    }
}
