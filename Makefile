# cdn-cert-deploy: the two commands a newcomer runs are `make demo` and `make test`.
.PHONY: demo test lint release sizes clean

# Deploy events/deploy.json to the embedded CDN simulator and print the per-domain result.
demo:
	cargo build --features sim --bins
	scripts/demo.sh

# Every test: unit tests of the pure core, the engine and the CLI against the simulator.
test:
	cargo test

# Formatting and lints, as CI runs them.
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# The lean release binary (no simulator inside).
release:
	cargo build --release --bin cdn-cert-deploy

sizes: release
	@ls -l target/release/cdn-cert-deploy | awk '{print "release binary: " $$5 " bytes"}'

clean:
	cargo clean
	rm -rf dist
