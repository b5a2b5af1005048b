#!/usr/bin/env bash
# What `panic = "unwind"` costs against `abort` (ADR 0003): binary size and cold start of
# function binaries built in release with the project's profile, only `panic` varied. Cold
# start = process start until the first poll of /invocation/next under the stand-in Runtime
# API (tests/bin/bench_cold_start.rs), median of interleaved runs. Slow (a release build per
# function and variant, ~2-9 min each on 2 cores): run by hand, not in CI.
#   bench/panic-strategy.sh [runs] [package...]      (default: 15 app-api reward-payout)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
runs="${1:-15}"
shift || true
packages=("$@")
[[ ${#packages[@]} -gt 0 ]] || packages=(app-api reward-payout)
out="$LOCAL_DIR/panic-strategy"
report="bench/reports/panic-strategy.md"
mkdir -p "$out"
binaries=()
for pkg in "${packages[@]}"; do
  for panic in abort unwind; do
    log "release build of $pkg with panic=$panic"
    cargo build --release --quiet -p "$pkg" --config "profile.release.panic=\"$panic\""
    cp "target/release/$pkg" "$out/$pkg.$panic"
    binaries+=("$out/$pkg.$panic")
  done
done
cargo build --quiet -p referral-tests --bin bench-cold-start
{
  echo "# Panic strategy: size and cold start"
  echo
  echo "$(rustc --version), $(date -u +%F), $(nproc) cores. Release profile of Cargo.toml, only \`panic\` varied."
  echo "Init = process start until the first \`/invocation/next\` poll, $runs runs per binary, interleaved."
  echo
  target/debug/bench-cold-start --runs "$runs" "${binaries[@]}"
} > "$report.tmp"
mv "$report.tmp" "$report"
cat "$report"
