# cdn-cert-deploy: the two commands a newcomer runs are `make demo` and `make test`.
.PHONY: demo test fuzz lint release sizes clean lambda functiongraph template-check workflow-check bench

# Deploy events/deploy.json to the embedded CDN simulator and print the per-domain result.
demo:
	cargo build --features sim --bins
	scripts/demo.sh

# Every test: unit tests of the pure core, the engine and the CLI against the simulator.
test:
	cargo test

# Property tests of every parser of outside bytes (tests/fuzz.rs), 10 000 cases per target
# (`make test` runs 256); a debug build, so that integer overflow panics instead of wrapping.
fuzz:
	PROPTEST_CASES=10000 cargo test --test fuzz

# Formatting, lints, the docs (no broken link), and the module layering (no import cycle between
# the files of src/ or its rooms), as CI runs them.
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features sim --quiet
	python3 scripts/module-cycles.py

# The lean release binary (no simulator inside).
release:
	cargo build --release --bin cdn-cert-deploy

# AWS Lambda package via cargo-lambda (zig cross-compiles): target/lambda/cdn-cert-deploy/bootstrap(.zip).
# ARCH=arm64 (default, as template.yaml) or ARCH=x86_64.
ARCH ?= arm64
lambda:
	ARCH=$(ARCH) scripts/build-lambda.sh

# Huawei FunctionGraph custom runtime: a static x86_64 musl bootstrap in dist/cdn-cert-deploy-functiongraph.zip.
functiongraph:
	scripts/package-functiongraph.sh

# template.yaml offline: the SAM transform, cfn-lint on the SAM and the transformed template, and the
# certificate-source IAM policies evaluated for every parameter combination.
template-check:
	scripts/check-template.sh

# workflow/deploy.asl.json on moto's Step Functions interpreter (a real ASL interpreter), each
# invocation answered by the function's binary under a Lambda Runtime API stand-in, against the
# simulator: four accounts (one of 1000 domains), Publish faults, refused inputs. moto is pinned:
# the check patches three of its internals (named in scripts/workflow-check.py).
workflow-check:
	python3 -c 'import moto; assert moto.__version__ == "5.2.1"' 2>/dev/null || python3 -m pip install --quiet "moto[server,stepfunctions]==5.2.1"
	cargo build --features sim --bins
	python3 scripts/workflow-check.py

# Benchmarks against the simulator (not part of CI): scale, 429s, RSS, size, cold start.
bench:
	python3 scripts/bench.py

sizes: release
	@ls -l $${CARGO_TARGET_DIR:-target}/release/cdn-cert-deploy | awk '{print "release binary: " $$5 " bytes"}'

clean:
	cargo clean
	rm -rf dist
