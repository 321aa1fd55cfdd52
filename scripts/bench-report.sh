#!/usr/bin/env bash
# Runs the hot-path benchmarks and prints a summary table (DESIGN §8, issue D).
#
# Usage:
#   scripts/bench-report.sh                                               # aws-lc provider (default)
#   scripts/bench-report.sh --no-default-features --features rust-crypto,cli   # rust-crypto provider
#   BENCH_REPORT_NO_RUN=1 scripts/bench-report.sh                         # only print the last results
#
# Every argument is passed to `cargo bench --bench hot_path` (so `-- <criterion args>` works too).
# Results are read from criterion's `<target dir>/criterion/<group>/<bench>/new/estimates.json`
# (median point estimate), where the target dir is `$CARGO_TARGET_DIR` if set, else cargo's.
#
# Time: the benchmark itself runs in about 1.5 minutes on a 2-core machine. The first build of the
# `bench` profile takes longer (about 3.5 minutes here: aws-lc-rs, OpenSSL for josekit, criterion);
# once compiled, the whole script finishes in well under 3 minutes.
set -euo pipefail

cd "$(dirname "$0")/.."

provider="aws-lc (default features)"
case " $* " in
*" --no-default-features "*rust-crypto* | *rust-crypto*" --no-default-features "*)
    provider="rust-crypto"
    ;;
esac

if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_dir="$CARGO_TARGET_DIR"
else
    target_dir="$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
fi

# Results older than this run are reported as stale rather than silently mixed in.
stamp="$(date +%s)"
if [[ -z "${BENCH_REPORT_NO_RUN:-}" ]]; then
    cargo bench --bench hot_path "$@" >&2
    since="$stamp"
else
    since=0
fi

python3 - "$target_dir/criterion" "$provider" "$since" <<'PY'
import json
import os
import sys

root, provider, since = sys.argv[1], sys.argv[2], int(sys.argv[3])
stale = []


def median_us(*path):
    """Median point estimate in µs, or None when the benchmark has no (fresh) result."""
    f = os.path.join(root, *path, "new", "estimates.json")
    try:
        with open(f) as fh:
            est = json.load(fh)
    except (OSError, ValueError):
        return None
    if os.path.getmtime(f) < since:
        stale.append("/".join(path))
        return None
    return est["median"]["point_estimate"] / 1000.0


def us(v):
    return "—" if v is None else f"{v:.1f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


print(f"## jwe-mint hot path — provider: {provider}")
print()
print("Medians. Token: ES256 at+jwt JWS (~350 B claims) in ECDH-ES+A256KW/A256GCM, P-256.")
print()
print("| operation | ours µs | floor µs | josekit µs | ours/floor | josekit/ours |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for op in ("mint", "open"):
    ours, floor, jk = (median_us(op, w) for w in ("ours", "floor", "josekit"))
    print(f"| {op} one | {us(ours)} | {us(floor)} | {us(jk)} | {ratio(ours, floor)} | {ratio(jk, ours)} |")
for w in ("encrypt", "decrypt"):
    print(f"| jwe_raw {w} (600 B, no JWS) | {us(median_us('jwe_raw', w))} | — | — | — | — |")
print()
print("Fan-out: one grant over N resources; compact = `mint_all` (N tokens), json = `mint_multi_recipient`.")
print()
print("| N | compact µs | json µs | compact(N)/compact(1) | json(N)/json(1) | compact/json |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
c1, j1 = median_us("fanout_compact", "1"), median_us("fanout_json", "1")
for n in ("1", "4", "16"):
    c, j = median_us("fanout_compact", n), median_us("fanout_json", n)
    print(f"| {n} | {us(c)} | {us(j)} | {ratio(c, c1)} | {ratio(j, j1)} | {ratio(c, j)} |")
print()
hit = median_us("open", "cache_hit")
print(f"RS cache hit (`ResourceServer::with_cache`, same token again): {us(hit)} µs")
t1, t2, seq = median_us("batch64", "threads1"), median_us("batch64", "threads2"), median_us("batch64", "sequential")
if t1 is not None or t2 is not None:
    print(f"Batch of 64 mints (`--features parallel`): 1 thread {us(t1)} µs, 2 threads {us(t2)} µs, speed-up {ratio(t1, t2)}")
elif seq is not None:
    print(f"Batch of 64 mints (sequential; run with `--features parallel` for the rayon speed-up): {us(seq)} µs")
if stale:
    print()
    print("stale (not produced by this run, omitted): " + ", ".join(sorted(set(stale))))
PY
