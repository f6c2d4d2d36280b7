# Sourced by the build scripts: makes `cargo lambda` available (the PyPI package ships it with
# zig, so no toolchain download of its own) and the Rust standard library of target $1.
if ! cargo lambda --version >/dev/null 2>&1; then
  python3 -m pip install --quiet cargo-lambda
  # pip may put the command where PATH does not look (a venv, or ~/.local/bin for --user).
  PATH="$(python3 -c 'import site, sysconfig; print(sysconfig.get_path("scripts") + ":" + site.getuserbase() + "/bin")'):$PATH"
fi
if command -v rustup >/dev/null 2>&1; then
  rustup target add "$1"
fi
