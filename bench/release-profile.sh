#!/usr/bin/env bash
# Measures the release profile's effect on binary size: builds the same binary with each
# opt-level (LTO fat, codegen-units 1, strip, panic held fixed, as in Cargo.toml) and
# writes a report. Slow (a full release build per variant): run by hand, not in CI.
#   bench/release-profile.sh [package] [binary]
set -euo pipefail
cd "$(dirname "$0")/.."
pkg="${1:-referral-devkit}" bin="${2:-referral-dev}"
report="bench/reports/release-profile.md"
{
  echo "# Release profile: binary size by opt-level"
  echo
  echo "Binary \`$bin\` (package \`$pkg\`), $(rustc --version), $(date -u +%F)."
  echo "Fixed: lto=fat, codegen-units=1, strip=symbols, panic=unwind."
  echo
  echo "| opt-level | size (bytes) | size (MiB) | build time (s) |"
  echo "|---|---|---|---|"
} > "$report.tmp"
for level in 3 s z; do
  start=$(date +%s)
  CARGO_PROFILE_RELEASE_OPT_LEVEL=$level cargo build --release --quiet -p "$pkg" --bin "$bin"
  secs=$(( $(date +%s) - start ))
  size=$(stat -c %s "target/release/$bin")
  awk -v l="$level" -v s="$size" -v t="$secs" 'BEGIN { printf "| %s | %d | %.1f | %s |\n", l, s, s / 1048576, t }' >> "$report.tmp"
done
mv "$report.tmp" "$report"
cat "$report"
