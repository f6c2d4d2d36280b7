#!/usr/bin/env bash
# Builds the AWS Lambda package with cargo-lambda: target/lambda/cdn-cert-deploy/bootstrap(.zip).
# ARCH=arm64 (default, Graviton) or ARCH=x86_64. cargo-lambda links through zig, so this
# cross-compiles from any host. The binary needs glibc 2.29 or later: provided.al2023 (2.34) has it,
# provided.al2 (2.26) does not.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${ARCH:-arm64}
case "$arch" in
  arm64 | aarch64) flag=--arm64; triple=aarch64-unknown-linux-gnu ;;
  x86_64 | x86-64 | amd64) flag=--x86-64; triple=x86_64-unknown-linux-gnu ;;
  *) echo "ARCH must be arm64 or x86_64, not '$arch'" >&2; exit 2 ;;
esac

# cargo-lambda (with zig, which cross-compiles ring's C) and the target's standard library.
. scripts/cargo-lambda-env.sh "$triple"

# The package always lands in ./target/lambda, wherever CARGO_TARGET_DIR puts the build itself.
out=target/lambda/cdn-cert-deploy
rm -f "$out/bootstrap" "$out/bootstrap.zip"
cargo lambda build --release --bin cdn-cert-deploy --output-format zip "$flag" --lambda-dir target/lambda
# The zip format leaves only bootstrap.zip; take bootstrap out of it (one compile, so the two match).
python3 - "$out" <<'PY'
import os, sys, zipfile
out = sys.argv[1]
with zipfile.ZipFile(os.path.join(out, "bootstrap.zip")) as z:
    z.extract("bootstrap", out)
os.chmod(os.path.join(out, "bootstrap"), 0o755)
PY
ls -l "$out"
