#!/usr/bin/env bash
# Fuzzes both HTTP APIs with schemathesis (a real client reading docs/openapi.yaml) through the
# local gateway, once with a member token and once with an admin token, every check on
# (`--checks all`). Exits non-zero on any failure; prints the number of cases and failures.
#
# Everything it writes goes to a table, a payout queue, a signing key and a gateway port of its
# own, created for this run (TABLE_NAME=referral-fuzz-<time>-<pid>), so the stateful phase can
# never touch demo or test data. Needs DynamoDB Local and the SQS emulator running
# (scripts/stack.sh start) and target/debug/referral-dev built.
#   FUZZ_EXAMPLES (default 100): cases per operation and phase; FUZZ_API_PORT: the gateway port.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

examples="${FUZZ_EXAMPLES:-100}"
port="${FUZZ_API_PORT:-$((API_PORT + 100))}"
run_id="$(date +%s)-$$"
work="$LOCAL_DIR/fuzz/$run_id"
mkdir -p "$work"
# A copy: target/ may be shared with other checkouts that rebuild it meanwhile.
built="${REFERRAL_DEV:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/referral-dev}"
[[ -x "$built" ]] || die "build referral-dev first: cargo build -p referral-devkit"
cp "$built" "$work/referral-dev"
dev="$work/referral-dev"
schema="${FUZZ_SCHEMA:-docs/openapi.yaml}"
st="$VENV/bin/st"
[[ -x "$st" ]] || die "schemathesis is not installed; run scripts/install-tools.sh"

export TABLE_NAME="referral-fuzz-$run_id"
export PAYOUT_QUEUE_NAME="referral-fuzz-$run_id-payout"
export PAYOUT_QUEUE_URL="$AWS_ENDPOINT_URL_SQS/123456789012/$PAYOUT_QUEUE_NAME"
export JWT_KEY_FILE="$work/jwt-signing.key"
export API_ADDR="127.0.0.1:$port"

gateway_pid=""
cleanup() {
  [[ -n "$gateway_pid" ]] && kill "$gateway_pid" 2>/dev/null || true
  "$dev" drop-table >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "fuzz table $TABLE_NAME, gateway http://$API_ADDR (log: $work/gateway.log)"
"$dev" create-table >/dev/null
"$dev" load-campaign config/campaigns/personal.json >/dev/null
"$dev" create-queue >/dev/null
RUST_LOG="${RUST_LOG:-warn}" "$dev" serve-api --addr "$API_ADDR" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 1 120); do
  curl -s -o /dev/null -m 2 "http://$API_ADDR/" && break
  kill -0 "$gateway_pid" 2>/dev/null || die "the gateway exited; see $work/gateway.log"
  sleep 0.25
done

member="$("$dev" token member fuzz-member-1 --hours 1)"
admin="$("$dev" token admin fuzz-admin --hours 1)"

total_cases=0
total_failures=0
status=0
for who in member admin; do
  token="$member"; [[ $who == admin ]] && token="$admin"
  out="$work/$who.txt"
  log "schemathesis as $who ($examples examples per operation and phase)"
  set +e
  "$st" --config-file "$ROOT/scripts/schemathesis.toml" run "$schema" \
    --url "http://$API_ADDR" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-examples "$examples" \
    --workers 1 \
    --generation-database none \
    --no-color \
    --report junit --report-junit-path "$work/$who.junit.xml" \
    >"$out" 2>&1
  code=$?
  set -e
  # From the summary: "Test cases:" then "  N generated, M found K unique failures, ...".
  summary=$(grep -A1 '^Test cases:' "$out" | tail -n1 || true)
  cases=$(grep -Eo '^ *[0-9]+ generated' <<<"$summary" | grep -Eo '[0-9]+' || true)
  failures=$(grep -Eo '[0-9]+ unique failures?' <<<"$summary" | grep -Eo '^[0-9]+' || true)
  cases=${cases:-0}; failures=${failures:-0}
  if [[ $code -ne 0 && $failures -eq 0 ]]; then failures=1; fi
  echo "schemathesis ($who): $cases cases, $failures failures (exit $code; output: $out)"
  total_cases=$((total_cases + cases))
  total_failures=$((total_failures + failures))
  if [[ $code -ne 0 ]]; then
    status=1
    sed -n '/FAILURES/,$p' "$out" | head -n 200
  fi
done
echo "schemathesis: $total_cases cases, $total_failures failures"
exit $status
