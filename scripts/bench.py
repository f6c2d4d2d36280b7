#!/usr/bin/env python3
"""Benchmarks of cdn-cert-deploy against the simulator (`make bench`; not part of CI's verdict).

Every line is a renewal (each domain serves the previous certificate) under the documented
quotas, unscaled unless the line says otherwise, with a propagation delay of PROPAGATION_S: the
release binary deploys to the release simulator over loopback, as `invoke` would.

- each domain read in full once; floor = N / 300 a minute (the ShowDomainFullConfig quota) + one
  propagation. A domain holding anything but the default of what the batch call cannot carry is
  written alone (200 a minute): in a diverse account that is nearly every domain, whatever the
  batch call does, and the floor is the longer of the two.
- every line also counts the domains whose settings changed at any moment (the simulator's
  settings log of each domain): it must be 0.
- faults: random faults, and a budget that ends mid-run; every status is checked against the
  simulator's own record of what it received.
- every line but the faults' is forecast first by a read-only `doctor` run on its own simulator
  (told the propagation as DEPLOY_FORECAST_SETTLE_SECS): the forecast against the wall.
- 10 000 domains on quotas SCALE_BIG times faster in time (both sides): wall against its floor,
  peak RSS and the result's size.

Then `doctor --all` on 10 000 domains (the expiry inventory): its wall, writes and peak RSS; peak RSS at N=500, the stripped release binary's size, and cold start (process start to
the first runtime API request).
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
PROPAGATION_S = float(os.environ.get("BENCH_PROPAGATION_S", "10"))
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "100,300,500").split(",")]
BIG = int(os.environ.get("BENCH_BIG", "10000"))
SCALE_BIG = float(os.environ.get("BENCH_SCALE_BIG", "30"))
AK, SK = "BENCHAKEXAMPLE000000", "bench-secret-key"
TRUST_ROOTS = "@" + os.path.join(ROOT, "tests", "fixtures", "demo-ca.pem")
# (count, window in seconds), as documented.
QUOTAS = {"ShowDomainDetailByName": (300, 60), "ShowDomainFullConfig": (300, 60),
          "UpdateDomainFullConfig": (200, 60), "ListDomains": (300, 60),
          "ShowCertificatesHttpsInfo": (15, 1), "UpdateDomainMultiCertificates": (20, 60)}


def build():
    subprocess.run(["cargo", "build", "--release", "--features", "sim", "--bin", "cdn-sim"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--bin", "cdn-cert-deploy"], cwd=ROOT, check=True)


def pick(i, salt, n):
    x = ((i + 1) * 0x9E3779B97F4A7C15 ^ salt * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    return (x >> 33) % n


def domains(n, kind, previous, scale=1.0):
    """`uniform`: the documented defaults everywhere (most accounts); `diverse`: every setting
    mixed (origin, HTTP/2, TLS, OCSP, redirect and its code, ciphers, HSTS, QUIC, SNI, client
    certificates)."""
    out = []
    for i in range(n):
        https = dict(previous)
        d = {"name": f"d{i:05}.example.com", "configure_ms": int(PROPAGATION_S * 1000 / scale), "https": https}
        if kind == "uniform":
            https.update(http2_status="on", tls_version="TLSv1.1,TLSv1.2,TLSv1.3", ocsp_stapling_status="off")
            d["origin_protocol"] = "http"
        else:
            https.update(http2_status=["on", "off"][pick(i, 3, 2)],
                         tls_version=["TLSv1.1,TLSv1.2,TLSv1.3", "TLSv1.2,TLSv1.3", "TLSv1.3"][pick(i, 1, 3)],
                         ocsp_stapling_status=["on", "off"][pick(i, 2, 2)])
            d["origin_protocol"] = ["follow", "http", "https"][pick(i, 4, 3)]
            d["force_redirect"] = [{"status": "off"},
                                   {"status": "on", "type": "https", "redirect_code": 301},
                                   {"status": "on", "type": "https", "redirect_code": 302},
                                   {"status": "on", "type": "http", "redirect_code": 301}][pick(i, 5, 4)]
            d["https_tls_version"] = {"cipher_suite_group": ["default", "strict"][pick(i, 6, 2)]}
            d["hsts"] = [{"status": "off"}, {"status": "on", "max_age": 3600, "include_subdomains": "off"}][pick(i, 7, 2)]
            d["quic"] = {"status": ["on", "off"][pick(i, 8, 2)]}
            d["sni"] = [{"status": "off"}, {"status": "on", "server_name": "origin.example.com"}][pick(i, 9, 2)]
            d["client_cert"] = [{"status": "off"}, {"status": "on", "trusted_cert": "CA", "hosts": "a.example.com"}][pick(i, 10, 2)]
        out.append(d)
    return out


def faults(names):
    def f(api, skip, times, **kind):
        return dict(api=api, skip=skip, times=times, **kind)

    def status(code, http_status, apply):
        return dict(kind="status", http_status=http_status, code=code, message=f"injected {http_status}", apply=apply)
    out = [f("UpdateDomainMultiCertificates", 1, 1, **status("CDN.0001", 500, False)),
           f("UpdateDomainMultiCertificates", 3, 1, kind="reset", apply=True),
           f("UpdateDomainFullConfig", 2, 2, **status("CDN.0001", 500, True)),
           f("UpdateDomainFullConfig", 10, 2, kind="reset", apply=False),
           f("UpdateDomainFullConfig", 30, 2, **status("CDN.0163", 400, False)),
           f("ShowDomainFullConfig", 5, 5, **status("CDN.0001", 503, False)),
           f("ShowDomainFullConfig", 50, 5, kind="delay", delay_ms=2000),
           f("ListDomains", 2, 1, **status("CDN.0001", 500, False))]
    out += [dict(api="UpdateDomainMultiCertificates", domain=names[i], times=1, kind="batch_fail",
                 reason="internal error, please retry") for i in range(0, len(names), 23)]
    return out


def sim_config(n, kind, scale=1.0, sim_extra=None, with_faults=False):
    previous = json.load(open(os.path.join(ROOT, "events", "sim-demo.json")))["domains"][0]["https"]
    ds = domains(n, kind, previous, scale)
    names = [d["name"] for d in ds]
    if with_faults:
        for i, d in enumerate(ds):
            r = pick(i, 21, 40)
            if r == 0:
                d["outcome"] = "stuck"
            elif r == 1:
                d["outcome"] = "configure_failed"
            elif r == 2:
                d["status"] = "offline"
    cfg = {"credentials": [{"ak": AK, "sk": SK}], "quota_time_scale": scale, "domains": ds,
           "faults": faults(names) if with_faults else []}
    cfg.update(sim_extra or {})
    return cfg, names


def start_sim(cfg, work):
    """A fresh simulator (its quota windows empty) and its endpoint."""
    path = os.path.join(work, f"sim-{time.time_ns()}.json")
    json.dump(cfg, open(path, "w"))
    addr = os.path.join(work, f"addr-{time.time_ns()}")
    sim = subprocess.Popen([SIM, "--config", path, "--addr-file", addr],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        if os.path.exists(addr) and open(addr).read().strip():
            break
        time.sleep(0.02)
    return sim, open(addr).read().strip()


def deployer(args, work, scale=1.0, extra_env=None):
    """Runs the release binary; its parsed stdout, wall and peak RSS (KiB)."""
    quotas = {k: f"{c}/{w / scale}s" for k, (c, w) in QUOTAS.items()}
    # The demo chain's root is a private CA: trusted as an operator trusts one.
    env = dict(os.environ, HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK, RUST_LOG="warn",
               DEPLOY_API_QUOTAS=json.dumps(quotas), DEPLOY_TRUST_ROOTS=TRUST_ROOTS, **(extra_env or {}))
    # Peak RSS from GNU time: a child forked from Python inherits Python's high-water mark in its
    # own ru_maxrss, which survives exec.
    rss_file = os.path.join(work, "rss")
    timer = ["/usr/bin/time", "-f", "%M", "-o", rss_file] if os.path.exists("/usr/bin/time") else []
    t0 = time.perf_counter()
    proc = subprocess.Popen(timer + [DEPLOYER] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rss_kb = int(open(rss_file).read().split()[-1]) if timer else usage.ru_maxrss
    return json.loads(out), out, wall, rss_kb


def request_file(names, work, options=None, extra=None):
    demo = json.load(open(os.path.join(ROOT, "events", "deploy.json")))
    request = {"domains": names, "certificate": demo["certificate"], "private_key": demo["private_key"],
               "options": options or {}, **(extra or {})}
    event = os.path.join(work, f"event-{time.time_ns()}.json")
    json.dump(request, open(event, "w"))
    return event


def doctor(n, kind, work, scale=1.0, sim_extra=None, all_domains=False):
    """A doctor run on its own simulator: the forecast, wall, calls and peak RSS."""
    cfg, names = sim_config(n, kind, scale, sim_extra)
    sim, endpoint = start_sim(cfg, work)
    try:
        event = request_file([] if all_domains else names, work, extra={"all": True} if all_domains else None)
        # The simulator answers DNS on its port: no lookup leaves the machine.
        env = {"DEPLOY_FORECAST_SETTLE_SECS": str(PROPAGATION_S / scale),
               "DEPLOY_DNS_SERVER": endpoint.split("//", 1)[1].rstrip("/")}
        report, _, wall, rss_kb = deployer(["doctor", "--event", event, "--endpoint", endpoint], work, scale, env)
        stats = json.load(urllib.request.urlopen(endpoint + "/_sim/stats"))
    finally:
        sim.kill()
        sim.wait()
    writes = sum(v["calls"] for k, v in stats["apis"].items() if k.startswith("Update"))
    return {"forecast": report["forecast"], "wall": wall, "rss_kb": rss_kb, "writes": writes,
            "domains": len(report["domains"]), "ok": report["ok"]}


def run(n, kind, work, options=None, scale=1.0, budget=3600, sim_extra=None, with_faults=False):
    demo = json.load(open(os.path.join(ROOT, "events", "deploy.json")))
    cfg, names = sim_config(n, kind, scale, sim_extra, with_faults)
    sim, endpoint = start_sim(cfg, work)
    try:
        event = request_file(names, work, options)
        result, out, wall, rss_kb = deployer(["invoke", "--event", event, "--endpoint", endpoint,
                                              "--budget", str(budget)], work, scale)
        stats = json.load(urllib.request.urlopen(endpoint + "/_sim/stats"))
        wrong = check(result, endpoint, demo["certificate"]) if with_faults else None
        changed = sum(1 for name in names
                      if json.load(urllib.request.urlopen(f"{endpoint}/_sim/domains/{name}")).get("settings_log"))
    finally:
        sim.kill()
        sim.wait()
    if not with_faults and budget >= 3600 and result["summary"]["deployed"] != n:
        sys.exit(f"bench: {n} {kind}: not every domain deployed: {result['summary']} "
                 f"{result.get('error') or ''}")
    calls = {k: v["calls"] for k, v in stats["apis"].items()}
    throttled = sum(v["throttled"] for v in stats["apis"].values())
    return {"n": n, "wall": wall, "calls": calls, "throttled": throttled, "total": sum(calls.values()),
            "summary": result["summary"], "rss_kb": rss_kb, "bytes": len(out), "wrong": wrong,
            "changed": changed,
            "compact": len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode())}


def check(result, endpoint, chain):
    """Statuses that do not say what the simulator received (as tests/write_path.rs checks)."""
    def leaf(pem):
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        return "".join(body.split())
    new_leaf = leaf(chain)
    wrong = []
    for d in result["domains"]:
        s = json.load(urllib.request.urlopen(f"{endpoint}/_sim/domains/{d['domain']}"))
        served = s["https"].get("certificate_value") or ""
        serves = "BEGIN CERTIFICATE" in served and leaf(served) == new_leaf
        code = (d.get("error") or {}).get("code", "")
        ok = {"deployed": s["status"] == "online" and serves,
              "unchanged": s["writes_received"] == 0 and serves,
              "pending": s["writes_received"] >= 1 and (s["live_for_ms"] is None or s["live_for_ms"] < 3000),
              "failed": s["status"] == "configure_failed" or bool(s["refusals"]),
              "skipped": (code != "budget_exhausted" or s["writes_received"] == 0)
                         and (code != "domain_unavailable" or s["status"] == "offline")}[d["status"]]
        if not ok:
            wrong.append((d["domain"], d["status"], code))
    return wrong


def default_floor(n, scale=1.0):
    return (n / 300 * 60 + PROPAGATION_S) / scale


def alone_floor(n, scale=1.0):
    """Every domain written with its own call: 200 at once, then 200 a minute."""
    return (max(math.ceil(n / 200) - 1, 0) * 60 + PROPAGATION_S) / scale


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


def row(label, r, floor):
    c = r["calls"]
    kinds = " / ".join(str(c.get(k, 0)) for k in ["ShowDomainDetailByName", "ShowDomainFullConfig", "UpdateDomainFullConfig",
                                           "UpdateDomainMultiCertificates", "ListDomains", "ShowCertificatesHttpsInfo"])
    s = r["summary"]
    outcome = ", ".join(f"{v} {k}" for k, v in s.items() if k != "total" and v)
    pct = 100 * r["throttled"] / max(r["total"], 1)
    ratio = f"{r['wall'] / floor:.2f}" if floor else "-"
    floor_txt = f"{floor:.1f} s" if floor else "-"
    wrong = "" if r["wrong"] is None else f"; wrong statuses: {len(r['wrong'])}"
    fc = r.get("forecast")
    forecast = f"{fc} s ({100 * (fc - r['wall']) / r['wall']:+.0f} %)" if fc is not None else "-"
    print(f"| {label} | {r['n']} | {r['wall']:.1f} s | {floor_txt} | {ratio} | {forecast} | {kinds} | "
          f"{r['throttled']} ({pct:.2f} %) | {outcome}{wrong} | {r['changed']} | {r['rss_kb'] / 1024:.1f} MiB |",
          flush=True)


def line(label, n, kind, work, floor, scale=1.0, sim_extra=None):
    """A read-only doctor run first (its own simulator), then the deployment it forecast."""
    d = doctor(n, kind, work, scale, sim_extra)
    if d["writes"]:
        sys.exit(f"bench: the doctor wrote {d['writes']} times")
    r = run(n, kind, work, scale=scale, sim_extra=sim_extra)
    r["forecast"] = d["forecast"]["seconds"]
    row(label, r, floor)
    return r


def main():
    build()
    print(f"\npropagation {PROPAGATION_S:.0f} s, documented quotas unscaled unless the line says, "
          f"machine: {os.cpu_count()} cores, {os.uname().machine}\n")
    print("| line | N | wall | floor | ratio | doctor's forecast (off) | calls (detail / config / write / batch / list / https-info) "
          "| 429s | outcome | settings changed at any moment | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    rss_500 = None
    with tempfile.TemporaryDirectory() as work:
        keeps = {"batch_keeps": ["all"]}
        for n in SIZES:
            r = line("default, uniform", n, "uniform", work, default_floor(n))
            if n == 500:
                rss_500 = r["rss_kb"]
            floor = max(default_floor(n), alone_floor(n))
            line("default, diverse, batch call keeps", n, "diverse", work, floor, sim_extra=keeps)
            line("default, diverse, batch call resets", n, "diverse", work, floor)
        n = SIZES[-1]
        r = run(n, "diverse", work, budget=45, with_faults=True)
        row("default, diverse, faults, 45 s budget", r, None)
        r = line(f"default, uniform, quotas x{SCALE_BIG:g} faster", BIG, "uniform", work,
                 default_floor(BIG, SCALE_BIG), scale=SCALE_BIG)
        print(f"\n- result of N={BIG}: {r['compact'] / 1e6:.2f} MB as Lambda answers it (compact JSON; its limit: 6 MB), "
              f"{r['bytes'] / 1e6:.2f} MB as `invoke` prints it (indented)")
        d = doctor(BIG, "diverse", work, SCALE_BIG, all_domains=True)
        print(f"- doctor --all on {BIG} diverse domains (quotas x{SCALE_BIG:g} faster): {d['domains']} entries, "
              f"{d['wall']:.1f} s, {d['writes']} writes, peak RSS {d['rss_kb'] / 1024:.1f} MiB")
    size = os.path.getsize(DEPLOYER)
    median, p90 = cold_start()
    if rss_500:
        print(f"- peak RSS, N=500: {rss_500 / 1024:.1f} MiB")
    print(f"- release binary (stripped): {size / 1e6:.2f} MB")
    print(f"- cold start to the first runtime API request: median {median:.1f} ms, p90 {p90:.1f} ms (20 runs)")


if __name__ == "__main__":
    main()
