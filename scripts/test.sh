#!/usr/bin/env bash
# The project's test command (README.md, .ci/run): formatting, lints, then every test.
# It sets up what it needs itself; the tests need no network and no Python.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== examples"
cargo run --locked -q --example quickstart -p kiln > /dev/null
# trains on the bundled digits data; exits non-zero below 90% validation accuracy
cargo run --locked -q --example digits_mlp -p kiln

echo "all checks passed"
