#!/usr/bin/env bash
# Long fuzz runs (not part of CI). Usage: bash fuzz/run-all.sh [seconds-per-target]
# Needs `cargo install cargo-fuzz`; the toolchain is stable, so RUSTC_BOOTSTRAP=1 enables the
# flags cargo-fuzz passes. No sanitizer: the crate has no unsafe code, so a crash is a panic.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
for t in decrypt_compact decrypt_json jwk_parse; do
  mkdir -p corpus/$t
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$t" corpus/$t seeds/$t -- \
    -max_total_time="$secs" -print_final_stats=1 2>&1 | tee "fuzz-$t.log" | tail -n 25
done
