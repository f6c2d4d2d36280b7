#!/usr/bin/env bash
# Packages the Huawei FunctionGraph custom runtime: dist/cdn-cert-deploy-functiongraph.zip holding
# one executable `bootstrap` at its root. The binary is static (x86_64 musl), so it runs whatever
# C library the FunctionGraph image has.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
# cargo-lambda (with zig, which cross-compiles ring's C) and the target's standard library.
. scripts/cargo-lambda-env.sh "$target"

# Its own lambda dir, so the AWS Lambda build in target/lambda is left alone.
build=target/functiongraph
cargo lambda build --release --bin cdn-cert-deploy --target "$target" --lambda-dir "$build"

# Zip with Python so the entry carries mode 0755: FunctionGraph runs bootstrap as it finds it.
mkdir -p dist
python3 - "$build/cdn-cert-deploy/bootstrap" dist/cdn-cert-deploy-functiongraph.zip <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.create_system = 3  # Unix, so unzip honours the mode below
info.external_attr = (0o100755 << 16)  # regular file, rwxr-xr-x
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read())
PY
ls -l "$build/cdn-cert-deploy/bootstrap" dist/cdn-cert-deploy-functiongraph.zip
