#!/usr/bin/env python3
"""workflow/deploy.asl.json on a real ASL interpreter: moto's Step Functions parser (LocalStack's
interpreter, vendored into moto), with every Lambda invocation answered by the function's binary
(the debug build `make demo` makes) under a Lambda Runtime API stand-in, against the CDN simulator, and the accounts' keys and the
certificate in moto's Secrets Manager. Nobody on this team wrote the interpreter.

Checks what a user with real accounts would see:
  - the sample-like input (a follow-up account, a 1000-domain account, a crashed account, a
    stuck account): the execution succeeds, every state's input and output and every task
    result stay under Step Functions' 256 KiB (moto catches States.DataLimitExceeded where AWS
    does not, so the sizes are checked here), exactly one message reaches the topic although
    the function is configured with the same topic, and each account's entry covers every
    attempt;
  - a throttled Publish is retried; a refused one still ends the execution with every account;
  - max_attempts out of range and an inline private key are refused before any invocation.

Waits and retry intervals of the interpreter run 60 times faster (recorded as asked); the CDN
quotas are scaled 10 times, the simulator's with them. Run by `make workflow-check`.
"""
import http.server
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "debug", "cdn-cert-deploy")
SIM = os.path.join(TARGET, "debug", "cdn-sim")
REGION = "eu-west-1"
WAIT_SCALE = 60.0
QUOTA_SCALE = 10.0
STATE_LIMIT = 256 * 1024
QUOTAS = {"ShowDomainDetailByName": (300, 60), "ShowDomainFullConfig": (300, 60),
          "UpdateDomainFullConfig": (200, 60), "ListDomains": (300, 60),
          "ShowCertificatesHttpsInfo": (15, 1), "UpdateDomainMultiCertificates": (20, 60)}
BIG = 1000
FAILURES = []


def check(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the Lambda Runtime API stand-in

class RuntimeApi:
    """Hands each invocation to whichever function process asks next, as Lambda does."""

    def __init__(self):
        self.events = queue.Queue()
        self.replies = {}
        self.done = {}
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.send_error(404)
                rid, body = api.events.get()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 f"arn:aws:lambda:{REGION}:123456789012:function:cdn-cert-deploy")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Type", "application/json")
                data = body.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = self.path.split("/")
                if "invocation" in parts and parts[-1] in ("response", "error"):
                    rid = parts[-2]
                    with api.lock:
                        api.replies[rid] = (parts[-1] == "error", data.decode())
                        api.done[rid].set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: str):
        rid = str(uuid.uuid4())
        with self.lock:
            self.done[rid] = threading.Event()
        self.events.put((rid, event))
        if not self.done[rid].wait(900):
            return True, json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": "no answer"})
        with self.lock:
            return self.replies.pop(rid)


# ---------------------------------------------------------------- the account fixtures

def demo_certificate():
    event = json.load(open(os.path.join(ROOT, "events", "deploy.json")))
    return event["certificate"], event["private_key"]


def sim_domains(previous):
    def d(name, **kw):
        return dict({"name": name, "configure_ms": 300, "https": dict(previous)}, **kw)
    out = [d("a1.example.com"), d("a2.example.com"),
           # Live 12 s after its write: two 5 s attempts see it configuring.
           d("slow.example.com", configure_ms=12_000),
           d("stuck.example.com", outcome="stuck"),
           d("crash.example.com")]
    out += [d(f"d{i:04}-big.example.com") for i in range(BIG)]
    return out


def accounts():
    return {"team-a": ["a1.example.com", "a2.example.com", "slow.example.com"],
            "big": [f"d{i:04}-big.example.com" for i in range(BIG)],
            "crash": ["crash.example.com"],
            "stuck": ["stuck.example.com"]}


def request_of(name, domains):
    return {"domains": domains,
            "certificate_source": {"type": "secretsmanager", "secret_id": "certs/example.com"},
            "huawei_credentials": {"type": "secretsmanager", "secret_id": f"cdn-accounts/{name}"},
            "options": {"time_budget_secs": 5 if name in ("team-a", "stuck") else 120}}


def keys_of(name):
    return f"AK{name.upper().replace('-', '')}".ljust(20, "0")[:20], f"sk-of-{name}"


# ---------------------------------------------------------------- moto, patched where it must be

def start_moto(port, runtime):
    os.environ["MOTO_PORT"] = str(port)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_DEFAULT_REGION"] = REGION
    from moto.core.config import default_user_config
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    import moto.awslambda.models as lambda_models
    from moto.server import ThreadedMotoServer
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    waits = []
    real_sleep = time.sleep

    def scaled_wait(self, env, wait_seconds):
        waits.append(wait_seconds)
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds / WAIT_SCALE)
    wait_function.WaitFunction._wait_interval = scaled_wait
    retries = []

    def scaled_sleep(seconds):
        retries.append(seconds)
        real_sleep(seconds / WAIT_SCALE)
    retrier_decl.time = types.SimpleNamespace(sleep=scaled_sleep)

    invocations = []

    def invoke(self, event=None):
        body = event if isinstance(event, str) else json.dumps(event)
        invocations.append(json.loads(body))
        if "crash.example.com" in json.loads(body).get("domains", []):
            # As Lambda reports a function the platform stopped.
            return json.dumps({"errorType": "Sandbox.Timedout",
                               "errorMessage": "Task timed out after 900.00 seconds"}), True, ""
        errored, payload = runtime.invoke(body)
        return payload, errored, ""
    lambda_models.LambdaFunction._invoke_lambda = invoke

    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # The interpreter logs every absent path a Choice tests (IsPresent false) as an exception.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    # moto deep-copies the state machine at each start, and after a first execution it holds
    # that execution's threads, which cannot be copied: a shallow copy serves the same purpose.
    import copy
    import moto.stepfunctions.parser.models as parser_models
    parser_models.copy = types.SimpleNamespace(deepcopy=copy.copy)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, waits, retries, invocations


def boto(service):
    import boto3
    return boto3.client(service, region_name=REGION, endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}")


# ---------------------------------------------------------------- the run

def sizes_within_limit(history):
    """Every state's input and output and every task's result under 256 KiB: (largest, where)."""
    largest, where = 0, ""
    for e in history:
        for key, details in e.items():
            if not isinstance(details, dict):
                continue
            for field in ("input", "output"):
                v = details.get(field)
                if isinstance(v, str) and len(v.encode()) > largest:
                    largest, where = len(v.encode()), f"{e['type']} {details.get('name', '')}".strip()
    return largest, where


def history_of(sfn, arn):
    events, token = [], None
    while True:
        kw = {"executionArn": arn, "maxResults": 1000}
        if token:
            kw["nextToken"] = token
        page = sfn.get_execution_history(**kw)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def execute(sfn, machine, payload, timeout=900):
    """Runs `payload` on a state machine of its own made from `machine` (definition, role)."""
    definition, role = machine
    arn = sfn.create_state_machine(name=f"DeployWorkflow-{uuid.uuid4().hex[:8]}",
                                   definition=definition, roleArn=role)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=arn, name=str(uuid.uuid4()),
                              input=json.dumps(payload))["executionArn"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d, history_of(sfn, arn)
        time.sleep(0.2)
    raise SystemExit(f"the execution did not end within {timeout} s")


def messages(sqs, queue_url):
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            return out
        for m in got["Messages"]:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def main():
    for path in (BIN, SIM):
        if not os.path.exists(path):
            raise SystemExit(f"{path} is missing: make workflow-check builds it")
    work = tempfile.mkdtemp(prefix="workflow-check-")
    runtime = RuntimeApi()
    server, waits, retries, invocations = start_moto(free_port(), runtime)
    cert, key = demo_certificate()

    # The simulator: every account's keys, every domain.
    previous = json.load(open(os.path.join(ROOT, "events", "sim-demo.json")))["domains"][0]["https"]
    sim_cfg = {"credentials": [dict(zip(("ak", "sk"), keys_of(n))) for n in accounts()],
               "quota_time_scale": QUOTA_SCALE, "domains": sim_domains(previous)}
    json.dump(sim_cfg, open(os.path.join(work, "sim.json"), "w"))
    addr = os.path.join(work, "addr")
    sim = subprocess.Popen([SIM, "--config", os.path.join(work, "sim.json"), "--addr-file", addr],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        if os.path.exists(addr):
            break
        time.sleep(0.02)
    endpoint = open(addr).read().strip()

    # AWS: the keys and the certificate in Secrets Manager, the topic with a queue to count on.
    sm = boto("secretsmanager")
    sm.create_secret(Name="certs/example.com", SecretString=json.dumps({"fullchain": cert, "private_key": key}))
    for name in accounts():
        ak, sk = keys_of(name)
        sm.create_secret(Name=f"cdn-accounts/{name}", SecretString=json.dumps({"ak": ak, "sk": sk}))
    sns, sqs = boto("sns"), boto("sqs")
    topic = sns.create_topic(Name="cdn-cert-deploy-notices")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="told")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    # The function: three processes polling one Runtime API, configured as template.yaml does
    # (the same topic for its own notifications).
    quotas = {k: f"{c}/{w / QUOTA_SCALE}s" for k, (c, w) in QUOTAS.items()}
    env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": runtime.addr,
           "AWS_LAMBDA_FUNCTION_NAME": "cdn-cert-deploy", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": REGION,
           "AWS_ACCESS_KEY_ID": "ASIAWORKFLOWCHECK000", "AWS_SECRET_ACCESS_KEY": "workflow-check",
           "AWS_SESSION_TOKEN": "workflow-check-token",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{os.environ['MOTO_PORT']}",
           "HUAWEICLOUD_CDN_ENDPOINT": endpoint, "DEPLOY_NOTIFY_SNS_TOPIC_ARN": topic,
           "DEPLOY_NOTIFY_ON": "always", "DEPLOY_TRUST_ROOTS": "@" + os.path.join(ROOT, "tests", "fixtures", "demo-ca.pem"),
           "DEPLOY_API_QUOTAS": json.dumps(quotas), "RUST_LOG": "warn", "LOG_FORMAT": "json"}
    log = open(os.path.join(work, "function.log"), "w")
    functions = [subprocess.Popen([BIN], env=env, stdout=log, stderr=log) for _ in range(3)]

    # The state machine, as template.yaml creates it.
    iam, lam, sfn = boto("iam"), boto("lambda"), boto("stepfunctions")
    role = iam.create_role(RoleName="cdn-cert-deploy", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    fn = lam.create_function(FunctionName="cdn-cert-deploy", Runtime="provided.al2023", Role=role,
                             Handler="bootstrap", Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
    definition = open(os.path.join(ROOT, "workflow", "deploy.asl.json")).read() \
        .replace("${FunctionArn}", fn).replace("${NotifyTopicArn}", topic)
    machine = (definition, role)

    try:
        sample_like(sfn, machine, sqs, queue_url, waits, invocations)
        refusals(sfn, machine, invocations)
        publish_faults(sfn, machine, sqs, queue_url)
    finally:
        for f in functions:
            f.kill()
        sim.kill()
        server.stop()
    print(f"function log: {log.name}")
    if FAILURES:
        raise SystemExit(f"workflow-check: {len(FAILURES)} check(s) failed")
    print("workflow-check: the definition holds on moto's Step Functions interpreter")


def sample_like(sfn, machine, sqs, queue_url, waits, invocations):
    print("== four accounts: one followed up, one of 1000 domains, one crashed, one stuck")
    payload = {"accounts": [{"name": n, "request": request_of(n, d)} for n, d in accounts().items()]}
    t0 = time.time()
    d, history = execute(sfn, machine, payload)
    print(f"   execution {d['status']} in {time.time() - t0:.1f} s, {len(history)} history events,"
          f" {len(invocations)} invocations, waits asked {waits}")
    check(d["status"] == "SUCCEEDED", f"the execution succeeds ({d.get('error')}: {d.get('cause')})")
    largest, where = sizes_within_limit(history)
    check(largest < STATE_LIMIT, f"every state's input and output under 256 KiB (largest {largest} B, {where})")
    out = json.loads(d.get("output") or "{}")
    entries = {a["name"]: a for a in out.get("accounts", [])}
    check(set(entries) == set(accounts()), f"an entry for every account: {sorted(entries)}")
    a = entries.get("team-a", {})
    check(a.get("ok") is True and a.get("attempts", 0) >= 3, f"team-a: live after follow-ups ({a.get('attempts')} attempts)")
    check(a.get("summary", {}).get("total") == 3 and a.get("summary", {}).get("deployed") == 3,
          f"team-a: the entry covers every attempt {a.get('summary')}")
    check(a.get("subject") == "cdn-cert-deploy: all 3 live", f"team-a: subject {a.get('subject')!r}")
    team_a = [i for i in invocations if "slow.example.com" in i.get("domains", [])]
    check(len(team_a) >= 3 and team_a[1].get("workflow", {}).get("attempt") == 2,
          "team-a: the follow-up carries the attempt and the tally")
    b = entries.get("big", {})
    s = b.get("summary", {})
    check(s.get("total") == BIG and s.get("deployed", 0) + s.get("pending", 0) == BIG,
          f"big: {BIG} domains told in a small entry {s} ({len(json.dumps(b))} B)")
    c = entries.get("crash", {})
    check(c.get("ok") is False and "Sandbox.Timedout" in json.dumps(c), f"crash: caught, reported {c.get('error')}")
    st = entries.get("stuck", {})
    check(st.get("attempts") == 4 and st.get("summary", {}).get("pending") == 1,
          f"stuck: 4 attempts, still pending {st.get('summary')}")
    # team-a waits twice (60, 120), stuck three times (60, 120, 240), interleaved.
    check(sorted(waits) == [60, 60, 120, 120, 240], f"follow-ups wait 60 s, then doubling: {waits}")
    told = messages(sqs, queue_url)
    check(len(told) == 1, f"exactly one message on the topic (got {len(told)}), though the function has the topic too")
    if told:
        names = [x["name"] for x in told[0]] if isinstance(told[0], list) else []
        check(names == list(accounts()), f"the message tells every account: {names}")


def refusals(sfn, machine, invocations):
    print("== refused before any invocation")
    before = len(invocations)
    cert, key = demo_certificate()
    d, _ = execute(sfn, machine, {"accounts": [{"name": "inline", "request": {
        "domains": ["a1.example.com"], "certificate": cert, "private_key": key}}]})
    check(d["status"] == "FAILED" and d.get("error") == "InlinePrivateKey"
          and "account inline" in (d.get("cause") or ""), f"an inline private key: {d.get('error')}: {d.get('cause', '')[:80]}")
    d, _ = execute(sfn, machine, {"accounts": [{"name": "team-a", "request": request_of("team-a", ["a1.example.com"])}],
                                  "max_attempts": 11})
    check(d["status"] == "FAILED" and d.get("error") == "InvalidInput", f"max_attempts 11: {d.get('error')}")
    check(len(invocations) == before, "no invocation")


def publish_faults(sfn, machine, sqs, queue_url):
    print("== a throttled Publish is retried; a refused one still ends with every account")
    import moto.sns.models as sns_models
    from moto.sns.exceptions import SNSException
    real = sns_models.SNSBackend.publish
    state = {"throttles": 2, "refuse": False}

    class Throttled(SNSException):
        code = "Throttled"

    class Refused(SNSException):
        code = "AuthorizationError"

    def publish(self, *a, **kw):
        if state["refuse"]:
            raise Refused("not authorized to publish")
        if state["throttles"] > 0:
            state["throttles"] -= 1
            raise Throttled("Rate exceeded")
        return real(self, *a, **kw)
    sns_models.SNSBackend.publish = publish
    one = {"accounts": [{"name": "team-a", "request": request_of("team-a", ["a1.example.com"])}]}
    d, _ = execute(sfn, machine, one)
    check(d["status"] == "SUCCEEDED" and len(messages(sqs, queue_url)) == 1 and state["throttles"] == 0,
          "throttled twice, then sent")
    state["refuse"] = True
    d, _ = execute(sfn, machine, one)
    out = json.loads(d.get("output") or "{}")
    check(d["status"] == "SUCCEEDED" and [a["name"] for a in out.get("accounts", [])] == ["team-a"]
          and "notify_error" in out, f"refused: the execution still ends with the accounts ({sorted(out)})")
    sns_models.SNSBackend.publish = real


if __name__ == "__main__":
    sys.exit(main())
