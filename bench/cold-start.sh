#!/usr/bin/env bash
# Cold start of the share link's own function against the app API it could have been a route
# of (issue 15: "its own small function ... the smallest cold start"): binary size and init
# time of both, built in release with the project's profile. Init = process start until the
# first poll of /invocation/next under the stand-in Runtime API (tests/bin/bench_cold_start.rs),
# median of interleaved runs. Slow (two release builds, ~6-10 min on 2 cores): run by hand,
# not in CI.
#   bench/cold-start.sh [runs]      (default: 31)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
runs="${1:-31}"
packages=(share-link app-api)
out="$LOCAL_DIR/cold-start"
report="bench/reports/cold-start.md"
mkdir -p "$out"
binaries=()
for pkg in "${packages[@]}"; do
  log "release build of $pkg (the project's release profile; minutes on a cold cache)"
  cargo build --release -p "$pkg"
  cp "target/release/$pkg" "$out/$pkg"
  binaries+=("$out/$pkg")
done
cargo build --quiet -p referral-tests --bin bench-cold-start
{
  echo "# Cold start: share-link (its own function) vs app-api"
  echo
  echo "$(rustc --version), $(date -u +%F), $(nproc) cores. Release profile of Cargo.toml (ADR 0003)."
  echo "Init = process start until the first \`/invocation/next\` poll, $runs runs per binary,"
  echo "interleaved; what Lambda reports as Init Duration minus the package download and sandbox"
  echo "set-up, which this machine cannot reproduce (a smaller package also downloads faster)."
  echo
  target/debug/bench-cold-start --runs "$runs" "${binaries[@]}"
} > "$report.tmp"
mv "$report.tmp" "$report"
cat "$report"
