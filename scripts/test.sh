#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run calls this):
#   lint (rustfmt, clippy -D warnings, cfn-lint) + unit tests + integration tests against
#   DynamoDB Local and the SQS emulator + schemathesis against the local gateway
#   (scripts/fuzz-api.sh: docs/openapi.yaml checked by a real client, fails on any failure).
# Installs what it needs (pinned, into .tools/), starts its own local stack on separate ports
# (so a running `scripts/dev.sh` stack is left alone) and stops it again at the end.
set -euo pipefail
export DDB_PORT="${TEST_DDB_PORT:-8571}" SQS_PORT="${TEST_SQS_PORT:-8572}"
export LOCAL_DIR="${LOCAL_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local/test}"
unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_SQS
source "$(dirname "$0")/env.sh"
cd "$ROOT"

start=$(date +%s)
"$ROOT/scripts/install-tools.sh"

log "rustfmt"
cargo fmt --all -- --check
log "cfn-lint infra/template.yaml"
"$VENV/bin/cfn-lint" infra/template.yaml

started_stack=0
if ! "$ROOT/scripts/stack.sh" status | grep -q "dynamodb: running"; then started_stack=1; fi
cleanup() { [[ $started_stack == 1 ]] && "$ROOT/scripts/stack.sh" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
"$ROOT/scripts/stack.sh" start

# The function binaries first: tests/it/function_binaries.rs runs them under a stand-in Lambda
# Runtime API, and `cargo test` alone does not build another package's binaries.
log "cargo build --workspace --bins"
cargo build --workspace --bins

log "cargo test (unit + integration + doc)"
mkdir -p "$LOCAL_DIR"
test_log="$LOCAL_DIR/cargo-test.log"
cargo test --workspace 2>&1 | tee "$test_log"

# referral-dev was built above with the function binaries (a `-p` build would re-resolve
# features and rebuild dependencies).
log "schemathesis against the local gateway (member and admin tokens, its own table)"
"$ROOT/scripts/fuzz-api.sh" | tee "$LOCAL_DIR/fuzz-api.log"

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# One closing line with the totals of every test binary (cargo prints one line per binary).
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$test_log" | awk '{ s += $4 } END { print s + 0 }')
failed=$(grep -Eo '; [0-9]+ failed' "$test_log" | awk '{ s += $2 } END { print s + 0 }')
log "all checks passed in $(( $(date +%s) - start )) s"
grep '^schemathesis:' "$LOCAL_DIR/fuzz-api.log" || true
echo "tests: $passed passed, $failed failed"
