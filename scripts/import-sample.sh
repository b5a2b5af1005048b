#!/usr/bin/env bash
# Imports the sample member dump (config/members/sample-members.tsv, MySQL tab-separated) into
# the local table with referral-import, as an operator would import the DBA's dump on launch
# day (docs/adr/0007-member-import.md). Starts the local stack and creates the table first if
# needed (scripts/dev.sh does more; this is enough for the import). Run it again: every row is
# then "already present". Any other dump: scripts/import-sample.sh path/to/dump.csv.gz
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
dump="${1:-config/members/sample-members.tsv}"

"$ROOT/scripts/install-tools.sh" >/dev/null
"$ROOT/scripts/stack.sh" start
cargo build --workspace --bin referral-dev --bin referral-import   # the workspace's features, as dev.sh and test.sh
bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
"$bin/referral-dev" create-table

work="$LOCAL_DIR/import"
mkdir -p "$work"
name="$(basename "$dump")"
rm -f "$work/$name.checkpoint"   # a fresh run each time (keep it to resume an interrupted one)
log "referral-import $dump -> table $TABLE_NAME"
status=0
"$bin/referral-import" "$dump" --table "$TABLE_NAME" --max-rejects 2 \
  --rejects "$work/$name.rejects.csv" --checkpoint "$work/$name.checkpoint" || status=$?
log "rejected rows ($work/$name.rejects.csv):"
cat "$work/$name.rejects.csv"
if [[ "$dump" == config/members/sample-members.tsv ]]; then
  log "a member qualified before launch (a referrer with a PERSONAL code, no rewards):"
  "$bin/referral-dev" member acc-demo-1
fi
exit "$status"
