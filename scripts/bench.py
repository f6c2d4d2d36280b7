#!/usr/bin/env python3
"""Benchmarks of cdn-cert-deploy against the simulator (`make bench`; not part of CI's verdict).

For N domains: wall time, API calls by kind, 429s and the ratio to the ideal (the quota-bound
lower limit: the propagation delay or the paced batch writes, whichever is longer, plus one poll
interval), and the same for a plain sequential deployer (read, write, poll until live, next
domain: the function itself with DEPLOY_CONCURRENCY=1). Then peak RSS at N=500, the stripped
release binary's size, and cold start (process start to the first runtime API request).

The documented quotas run SCALE times faster on both sides (the simulator's windows and the
client's pacing), and a domain takes PROPAGATION_MS to go live, so a run that would take minutes
against the real CDN takes seconds here, with the same shape.
"""
import http.server
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
DEPLOYER = os.path.join(TARGET, "release", "cdn-cert-deploy")
SIM = os.path.join(TARGET, "release", "cdn-sim")
SCALE = int(os.environ.get("BENCH_SCALE", "30"))
PROPAGATION_MS = int(os.environ.get("BENCH_PROPAGATION_MS", "2000"))
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10,100,500").split(",")]
SEQUENTIAL_MAX = int(os.environ.get("BENCH_SEQUENTIAL_MAX", "100"))
AK, SK = "BENCHAKEXAMPLE000000", "bench-secret-key"
QUOTAS = {"ShowDomainDetailByName": 300, "ShowDomainFullConfig": 300, "UpdateDomainFullConfig": 200,
          "ListDomains": 300, "ShowCertificatesHttpsInfo": 900, "UpdateDomainMultiCertificates": 20}


def build():
    subprocess.run(["cargo", "build", "--release", "--features", "sim", "--bin", "cdn-sim"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--bin", "cdn-cert-deploy"], cwd=ROOT, check=True)


def start_sim(n, work, batch_keeps=True):
    demo = json.load(open(os.path.join(ROOT, "events", "deploy.json")))
    # Every domain serves the previous certificate (a renewal), with a mix of settings.
    previous = json.load(open(os.path.join(ROOT, "events", "sim-demo.json")))["domains"][0]["https"]

    def https(i):
        return dict(previous, http2_status="on" if i % 4 else "off",
                    tls_version="TLSv1.2,TLSv1.3" if i % 2 else "TLSv1.1,TLSv1.2",
                    ocsp_stapling_status="on" if i % 3 == 0 else "off")
    cfg = {"credentials": [{"ak": AK, "sk": SK}], "quota_time_scale": SCALE,
           "batch_keeps_tls_and_ocsp": batch_keeps,
           "domains": [{"name": f"d{i:04}.example.com", "configure_ms": PROPAGATION_MS, "https": https(i)}
                       for i in range(n)]}
    path = os.path.join(work, f"sim-{n}.json")
    json.dump(cfg, open(path, "w"))
    addr = os.path.join(work, f"addr-{n}-{time.time_ns()}")
    proc = subprocess.Popen([SIM, "--config", path, "--addr-file", addr],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(addr):
            break
        time.sleep(0.02)
    endpoint = open(addr).read().strip()
    request = {"domains": [f"d{i:04}.example.com" for i in range(n)],
               "certificate": demo["certificate"], "private_key": demo["private_key"]}
    event = os.path.join(work, f"event-{n}.json")
    json.dump(request, open(event, "w"))
    return proc, endpoint, event


def deploy(n, work, concurrency=None, batch_keeps=True):
    sim, endpoint, event = start_sim(n, work, batch_keeps)
    env = dict(os.environ, HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK, RUST_LOG="warn",
               DEPLOY_API_QUOTAS=json.dumps({k: v * SCALE for k, v in QUOTAS.items()}))
    if concurrency:
        env["DEPLOY_CONCURRENCY"] = str(concurrency)
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen([DEPLOYER, "invoke", "--event", event, "--endpoint", endpoint, "--budget", "3600"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        result = json.loads(out)
        stats = json.load(urllib.request.urlopen(endpoint + "/_sim/stats"))
    finally:
        sim.kill()
        sim.wait()
    calls = {k: v["calls"] for k, v in stats["apis"].items()}
    throttled = sum(v["throttled"] for v in stats["apis"].values())
    return {"n": n, "wall": wall, "calls": calls, "throttled": throttled, "total": sum(calls.values()),
            "summary": result["summary"], "rss_kb": usage.ru_maxrss}


def ideal(n):
    batch_calls = math.ceil(n / 50)
    batch_time = (batch_calls - 1) / (QUOTAS["UpdateDomainMultiCertificates"] * SCALE / 60)
    return max(PROPAGATION_MS / 1000, batch_time) + 1.0


def cold_start(runs=20):
    times = []
    for _ in range(runs):
        first = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                first.set()
                time.sleep(2)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}", "AWS_LAMBDA_FUNCTION_NAME": "bench",
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
               "HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK, "RUST_LOG": "warn"}
        t0 = time.perf_counter()
        proc = subprocess.Popen([DEPLOYER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first.wait(10)
        times.append((time.perf_counter() - t0) * 1000)
        proc.kill()
        proc.wait()
        server.shutdown()
    return statistics.median(times), sorted(times)[int(len(times) * 0.9) - 1]


def main():
    build()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for n in SIZES:
            ours = deploy(n, work)
            assert ours["summary"]["deployed"] == n, ours["summary"]
            seq = deploy(n, work, concurrency=1) if n <= SEQUENTIAL_MAX else None
            rows.append((n, "keeps", ours, seq))
            print(f"N={n}: {ours['wall']:.1f} s, sequential {seq['wall']:.1f} s" if seq else f"N={n}: {ours['wall']:.1f} s",
                  file=sys.stderr)
        # The same, where the batch call is seen to reset TLS versions and OCSP stapling: every
        # domain is then read in full first.
        n = SIZES[-1]
        worst = deploy(n, work, batch_keeps=False)
        assert worst["summary"]["deployed"] == n, worst["summary"]
        rows.append((n, "resets", worst, None))
    per_domain_seq = None
    print(f"\nquotas x{SCALE} in time, propagation {PROPAGATION_MS} ms (about {PROPAGATION_MS * SCALE / 1000:.0f} s real), "
          f"machine: {os.cpu_count()} cores, {os.uname().machine}\n")
    print("| N | batch call | wall | ideal | ratio | calls (detail / config / write / batch / list / https-info) | 429s | sequential | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, semantics, ours, seq in rows:
        c = ours["calls"]
        kinds = " / ".join(str(c.get(k, 0)) for k in ["ShowDomainDetailByName", "ShowDomainFullConfig", "UpdateDomainFullConfig",
                                               "UpdateDomainMultiCertificates", "ListDomains", "ShowCertificatesHttpsInfo"])
        pct = 100 * ours["throttled"] / max(ours["total"], 1)
        if seq:
            per_domain_seq = seq["wall"] / n
            seq_txt, speed = f"{seq['wall']:.1f} s", f"{seq['wall'] / ours['wall']:.1f}x"
        elif per_domain_seq:
            # Sequential time grows linearly with N: extrapolated from the largest measured run.
            est = per_domain_seq * n
            seq_txt, speed = f"~{est:.0f} s (est.)", f"~{est / ours['wall']:.0f}x"
        else:
            seq_txt, speed = "-", "-"
        print(f"| {n} | {semantics} TLS/OCSP | {ours['wall']:.1f} s | {ideal(n):.1f} s | {ours['wall'] / ideal(n):.2f} | {kinds} | "
              f"{ours['throttled']} ({pct:.1f} %) | {seq_txt} | {speed} |")
    big = rows[-2][2]
    size = os.path.getsize(DEPLOYER)
    median, p90 = cold_start()
    print(f"\n- peak RSS, N={big['n']}: {big['rss_kb'] / 1024:.1f} MiB")
    print(f"- release binary (stripped): {size / 1e6:.2f} MB")
    print(f"- cold start to the first runtime API request: median {median:.1f} ms, p90 {p90:.1f} ms (20 runs)")


if __name__ == "__main__":
    main()
