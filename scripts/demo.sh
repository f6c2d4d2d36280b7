#!/usr/bin/env bash
# Deploys events/deploy.json to the embedded CDN simulator (events/sim-demo.json) and prints the
# per-domain result, then runs again as a schedule would, reading the certificate from a CSMS
# secret in the simulator. No cloud account needed: the keys below exist only in the simulator.
# The sample certificate is issued by the demo's private CA (tests/fixtures/demo-ca.pem), which
# DEPLOY_TRUST_ROOTS trusts besides the public web roots, as an operator trusts a private CA; the
# chain sent carries that self-signed root, which is left out of what is written.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/debug
work=$(mktemp -d)
trap 'kill "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/cdn-sim" --config events/sim-demo.json --addr-file "$work/addr" >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.05; done
[ -s "$work/addr" ] || { echo "the simulator did not start:"; cat "$work/sim.log"; exit 1; }
endpoint=$(cat "$work/addr")

echo "== simulator on $endpoint: www (old certificate, HTTP/2 on), img (already serves the new one),"
echo "   slow (7 s to go live), broken (ends configure_failed), *.example.com; shop.example.net is not covered"
echo "== first, read-only: cdn-cert-deploy doctor --event events/deploy.json --format text"
set +e
HUAWEICLOUD_SDK_AK=DEMOAKEXAMPLE0000000 \
HUAWEICLOUD_SDK_SK=demo-secret-key-for-the-simulator-only \
DEPLOY_TRUST_ROOTS=@tests/fixtures/demo-ca.pem \
DEPLOY_DNS_SERVER="${endpoint#http://}" \
RUST_LOG=off \
  "$bin/cdn-cert-deploy" doctor --event events/deploy.json --endpoint "$endpoint" --format text \
  2>/dev/null | sed 's/^/   /'
echo "   (doctor exit code ${PIPESTATUS[0]}: shop.example.net is not in the account; nothing was written)"
set -e
echo "== cdn-cert-deploy invoke --event events/deploy.json --endpoint $endpoint"
set +e
HUAWEICLOUD_SDK_AK=DEMOAKEXAMPLE0000000 \
HUAWEICLOUD_SDK_SK=demo-secret-key-for-the-simulator-only \
DEPLOY_TRUST_ROOTS=@tests/fixtures/demo-ca.pem \
HUAWEICLOUD_SDK_PROJECT_ID=0123456789abcdef0123456789abcdef \
DEPLOY_NOTIFY_SMN_TOPIC_URN=urn:smn:cn-north-4:0123456789abcdef0123456789abcdef:cert-alerts \
HUAWEICLOUD_SMN_ENDPOINT="$endpoint" \
DEPLOY_NOTIFY_WEBHOOK_URL="$endpoint/_sim/webhook?access_token=demo-robot-token" \
DEPLOY_NOTIFY_WEBHOOK_FORMAT=dingtalk \
DEPLOY_NOTIFY_WEBHOOK_SECRET=SECdemo-robot-secret \
RUST_LOG=${RUST_LOG:-info} \
  "$bin/cdn-cert-deploy" invoke --event events/deploy.json --endpoint "$endpoint" --budget "${BUDGET:-60}" \
  >"$work/result.json"
code=$?
set -e
cat "$work/result.json"
echo "== per domain:"
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for d in r.get("domains", []):
    why = d.get("message") or ""
    if "error" in d:
        why = "%s: %s" % (d["error"]["code"], d["error"]["message"])
    print("   %-20s %-10s %s" % (d["domain"], d["status"], why))
s = r.get("summary", {})
print("   ok=%s  " % str(r.get("ok")).lower() + "  ".join("%s=%s" % (k, v) for k, v in s.items() if v))
PY
echo "== exit code $code (0: every domain deployed or unchanged; 1: not every domain; 2: invalid request)"
echo "== what a person was told (DEPLOY_NOTIFY_ON=problems: a domain failed), as the simulator received it:"
python3 - "$endpoint" "$work/result.json" <<'PY' || true
import json, sys, urllib.request
got = json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/notifications"))
for n in json.load(open(sys.argv[2])).get("notifications", []):
    print("   channel %-8s %-9s ok=%s attempts=%s" % (n["channel"], n.get("format", ""), n["ok"], n["attempts"]))
for m in got["smn"]:
    print("   -- SMN topic %s" % m["topic_urn"])
    print("   subject: %s" % m["subject"])
    for line in m["message"].splitlines():
        print("   | " + line)
for w in got["webhooks"]:
    md = w["body"].get("markdown", {})
    print("   -- DingTalk robot (signed: query carries %s)" % ", ".join(w["query"]))
    for line in md.get("text", "").splitlines():
        print("   | " + line)
PY
echo "== www.example.com as the simulator now holds it (settings kept):"
python3 - "$endpoint" <<'PY' || true
import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/domains/www.example.com"))
h = d["https"]
print("   status=%s http2=%s tls=%s ocsp=%s origin_protocol=%s force_redirect=%s" % (d["status"],
      h["http2_status"], h["tls_version"], h["ocsp_stapling_status"], d["origin_protocol"],
      json.dumps(d["force_redirect"])))
PY

echo "== again, as a schedule: events/scheduler.json carries no request, DEPLOY_REQUEST names a CSMS"
echo "   secret (in the simulator) instead of holding the key; what is live reads unchanged, nothing is written"
set +e
HUAWEICLOUD_SDK_AK=DEMOAKEXAMPLE0000000 \
HUAWEICLOUD_SDK_SK=demo-secret-key-for-the-simulator-only \
DEPLOY_TRUST_ROOTS=@tests/fixtures/demo-ca.pem \
HUAWEICLOUD_CSMS_ENDPOINT="$endpoint" \
HUAWEICLOUD_SDK_PROJECT_ID=0123456789abcdef0123456789abcdef \
DEPLOY_NOTIFY_SMN_TOPIC_URN=urn:smn:cn-north-4:0123456789abcdef0123456789abcdef:cert-alerts \
HUAWEICLOUD_SMN_ENDPOINT="$endpoint" \
DEPLOY_REQUEST='{"domains": ["www.example.com", "img.example.com", "slow.example.com", "*.example.com"],
  "certificate_source": {"type": "huawei_csms", "secret_name": "demo-example-com"}}' \
RUST_LOG=${RUST_LOG:-warn} \
  "$bin/cdn-cert-deploy" invoke --event events/scheduler.json --endpoint "$endpoint" --budget "${BUDGET:-60}" \
  >"$work/scheduled.json"
code=$?
set -e
python3 - "$work/scheduled.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("   source: %s" % r.get("certificate", {}).get("source"))
for d in r.get("domains", []):
    print("   %-20s %-10s api_calls=%s serves a certificate valid until %s" % (d["domain"], d["status"], d["api_calls"],
          d.get("previous_not_after")))
print("   ok=%s" % str(r.get("ok")).lower())
told = r.get("notifications", [])
print("   told: %s" % (", ".join(n["channel"] for n in told) if told else
      "nobody (DEPLOY_NOTIFY_ON=problems, and every domain is live with a certificate far from expiry)"))
PY
echo "== exit code $code"
exit 0
