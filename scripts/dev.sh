#!/usr/bin/env bash
# Brings up referral-svc locally: installs the pinned tools, starts DynamoDB Local and the SQS
# emulator, creates the table from infra/template.yaml and loads the sample campaign.
# Idempotent: run it again at any time. Stop everything with `scripts/stack.sh stop`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/install-tools.sh"
"$ROOT/scripts/stack.sh" start

log "building the dev tools and the partner stand-ins (a cold build takes minutes: cargo shows its progress)"
# `--workspace` with two `--bin`s: only these two binaries are built, but with the features the
# whole workspace resolves, as `scripts/test.sh`'s `cargo build --workspace --bins` does, so
# the test run after this one compiles no dependency again.
cargo build --workspace --bin referral-dev --bin referral-partners
dev="$ROOT/target/debug/referral-dev"
"$dev" create-table
"$dev" load-campaign config/campaigns/personal.json
payout_queue="$("$dev" create-queue)"
# Restarted on every run so a rebuilt binary is the one running (their state is in memory).
"$ROOT/scripts/stack.sh" stop-app
"$ROOT/scripts/stack.sh" start-app
partners="http://127.0.0.1:$PARTNERS_PORT"

cat <<MSG

referral-svc local stack is up.
  DynamoDB Local : $AWS_ENDPOINT_URL_DYNAMODB  (table $TABLE_NAME, in memory)
  SQS (moto)     : $AWS_ENDPOINT_URL_SQS  (payout queue $payout_queue, DLQ $payout_queue-dlq)
  finance+msg-hub: $partners  (stand-ins; control under /_stand-in/)
  payout         : running on the payout queue like Lambda's SQS trigger (log: $LOG_DIR/payout.log)
  HTTP APIs      : http://$API_ADDR  (app /v1/..., admin /admin/v1/...; local JWT authorizer)
  logs           : $LOG_DIR

Look at what was loaded:
  source scripts/env.sh
  target/debug/referral-dev event personal        # the sample campaign, as the store reads it
  target/debug/referral-dev code SHARE888         # a demo referrer's code

Play the account module (MSK): each command wraps the record into an MSK event and runs the
consumer on it, exactly as Lambda's MSK trigger would:
  target/debug/referral-dev publish member-info new-1
  target/debug/referral-dev publish code-used new-1 SHARE888
  target/debug/referral-dev publish kyc-passed new-1
  target/debug/referral-dev publish device-bound new-1     # qualifies: own code + 2 rewards queued
  target/debug/referral-dev member new-1                    # the profile (phone masked)
  target/debug/referral-dev publish file events/registration.jsonl
  target/debug/referral-dev parked                          # malformed records, with coordinates
  target/debug/referral-dev publish kyc-passed new-2 --print-event > /tmp/msk.json  # for cargo lambda invoke

Payout (the rewards queued above are paid within seconds by the payout worker):
  target/debug/referral-dev rewards SUCCESS                 # paid, with compensation ids
  curl -s $partners/_stand-in/payments                       # what finance committed
  curl -s $partners/_stand-in/calls                          # every finance and msg-hub call
  curl -s -X PUT $partners/_stand-in/knobs -d '{"finance":{"error_rate":0.5}}'   # make finance flaky
  curl -s -X PUT $partners/_stand-in/knobs -d '{"finance":{"reject_keys":["new-3-referee"]}}'
  target/debug/referral-dev rewards FAIL                    # refused or out of retries (admins retry these)
  tail -f $LOG_DIR/payout.log

Or talk to DynamoDB Local directly with curl (any credentials are accepted):
  curl -s $AWS_ENDPOINT_URL_DYNAMODB -H 'X-Amz-Target: DynamoDB_20120810.GetItem' \\
    -H 'Content-Type: application/x-amz-json-1.0' \\
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/$AWS_REGION/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \\
    -d '{"TableName":"$TABLE_NAME","Key":{"PK":{"S":"CODE#SHARE888"},"SK":{"S":"#CODE"}}}'

Call the HTTP APIs (docs/api.md; tokens signed with the local key):
  ME=\$(target/debug/referral-dev token member demo-referrer)   # the referrer of SHARE888
  NEW=\$(target/debug/referral-dev token member new-member-1)   # someone registering
  ADMIN=\$(target/debug/referral-dev token admin)
  curl -si http://$API_ADDR/r/share-888     # the share link: 302, location: ${LANDING_URL_TEMPLATE/\{code\}/SHARE888}
  curl -s -X POST http://$API_ADDR/v1/referralCode/check -H "Authorization: Bearer \$NEW" -d '{"code":"SHARE888"}'
  curl -s http://$API_ADDR/v1/referral/me -H "Authorization: Bearer \$ME"
  curl -s http://$API_ADDR/admin/v1/referrers/member:demo-referrer/statistics -H "Authorization: Bearer \$ADMIN"
  curl -s "http://$API_ADDR/admin/v1/rewards?status=FAIL" -H "Authorization: Bearer \$ADMIN"

Stop it with: scripts/stack.sh stop
MSG
