#!/usr/bin/env bash
# Brings up referral-svc locally: installs the pinned tools, starts DynamoDB Local and the SQS
# emulator, creates the table from infra/template.yaml and loads the sample campaign.
# Idempotent: run it again at any time. Stop everything with `scripts/stack.sh stop`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

"$ROOT/scripts/install-tools.sh"
"$ROOT/scripts/stack.sh" start

log "building the dev tools"
cargo build --quiet -p referral-devkit
dev="$ROOT/target/debug/referral-dev"
"$dev" create-table
"$dev" load-campaign config/campaigns/personal.json

cat <<MSG

referral-svc local stack is up.
  DynamoDB Local : $AWS_ENDPOINT_URL_DYNAMODB  (table $TABLE_NAME, in memory)
  SQS (moto)     : $AWS_ENDPOINT_URL_SQS
  logs           : $LOG_DIR

Look at what was loaded:
  source scripts/env.sh
  target/debug/referral-dev event personal        # the sample campaign, as the store reads it
  target/debug/referral-dev code SHARE888         # a demo referrer's code

Or talk to DynamoDB Local directly with curl (any credentials are accepted):
  curl -s $AWS_ENDPOINT_URL_DYNAMODB -H 'X-Amz-Target: DynamoDB_20120810.GetItem' \\
    -H 'Content-Type: application/x-amz-json-1.0' \\
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/$AWS_REGION/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \\
    -d '{"TableName":"$TABLE_NAME","Key":{"PK":{"S":"CODE#SHARE888"},"SK":{"S":"#CODE"}}}'

Stop it with: scripts/stack.sh stop
MSG
