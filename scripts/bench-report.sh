#!/usr/bin/env bash
# Runs the hot-path benchmarks (benches/hot_path.rs) and prints a summary table of medians: ours vs
# the provider's primitive floor vs josekit, fan-out, cache hit and batch rows.
#
# Usage:
#   scripts/bench-report.sh --chart --features parallel      # what the README shows (see below)
#   scripts/bench-report.sh --features parallel              # aws-lc provider (default features)
#   scripts/bench-report.sh -p jwe-mint --no-default-features --features rust-crypto   # rust-crypto provider
#   scripts/bench-report.sh --quick ...                      # short criterion run, marked provisional
#   BENCH_REPORT_NO_RUN=1 scripts/bench-report.sh            # only print the last results (no --chart)
#
# --chart   also writes the table between the `bench-report` markers in README.md and the bar chart
#           docs/bench.svg (drawn by scripts/bench-chart, a separate crate: plotters, SVG only).
# --quick   shortens criterion's warm-up and measurement (to check the pipeline, not for numbers).
# Every other argument is passed to `cargo bench --bench hot_path` (so `-- <criterion args>` works).
# Results are read from criterion's `<target dir>/criterion/<group>/<bench>/new/estimates.json`
# (median point estimate), where the target dir is `$CARGO_TARGET_DIR` if set, else cargo's.
# Results older than this run are reported as stale, never mixed in.
#
# Quiet machine: just before and after the benchmarks the script samples how busy the CPUs are
# (/proc/stat, 2 s); above 15% the README table is marked provisional, naming the load.
#
# Time: the benchmarks run in about 2 minutes on a 2-core machine; the first build of the `bench`
# profile takes several minutes more (aws-lc-rs, OpenSSL for josekit, criterion; plotters
# for --chart).
set -euo pipefail

cd "$(dirname "$0")/.."

chart="" quick="" bench_args=() criterion_args=() seen_dashes=""
for a in "$@"; do
    if [[ -n "$seen_dashes" ]]; then
        criterion_args+=("$a")
        continue
    fi
    case "$a" in
    --chart) chart=1 ;;
    --quick) quick=1 ;;
    --) seen_dashes=1 ;;
    *) bench_args+=("$a") ;;
    esac
done
if [[ -n "$quick" ]]; then
    criterion_args+=(--warm-up-time 0.3 --measurement-time 0.6 --sample-size 10)
fi
# The command as the README shows it (without --quick: that is how to regenerate, not how this ran).
command_line="scripts/bench-report.sh"
for a in "$@"; do [[ "$a" == --quick ]] || command_line+=" $a"; done

provider="aws-lc (default features)"
case " ${bench_args[*]-} " in
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

# Percentage of all CPUs busy over 2 s (our benchmarks are not running at that moment).
cpu_busy() {
    python3 - <<'PY'
import time
def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)  # idle + iowait, total
i0, t0 = sample()
time.sleep(2)
i1, t1 = sample()
print(round(100 * (1 - (i1 - i0) / max(t1 - t0, 1))))
PY
}

stamp="$(date +%s)"
busy_before=0 busy_after=0
if [[ -z "${BENCH_REPORT_NO_RUN:-}" ]]; then
    cargo bench --bench hot_path --no-run ${bench_args[@]+"${bench_args[@]}"} >&2
    if [[ -n "$chart" ]]; then
        cargo build --release --manifest-path scripts/bench-chart/Cargo.toml --target-dir "$target_dir" >&2
    fi
    busy_before="$(cpu_busy)"
    stamp="$(date +%s)"
    cargo bench --bench hot_path ${bench_args[@]+"${bench_args[@]}"} -- ${criterion_args[@]+"${criterion_args[@]}"} >&2
    busy_after="$(cpu_busy)"
    since="$stamp"
else
    if [[ -n "$chart" ]]; then
        echo "bench-report: --chart writes the README and needs a run (unset BENCH_REPORT_NO_RUN)" >&2
        exit 2
    fi
    since=0
fi

machine="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1 | tr -s ' ')"
machine="${machine:-$(uname -m)}, $(nproc) cores, $(uname -s), rustc $(rustc --version | cut -d' ' -f2)"
date_utc="$(date -u +%Y-%m-%d)"

subtitle_file="$(mktemp)"
trap 'rm -f "$subtitle_file"' EXIT
python3 - "$target_dir/criterion" "$provider" "$since" "$machine" "$date_utc" "$command_line" \
    "${chart:-0}" "${quick:-0}" "$busy_before" "$busy_after" "$subtitle_file" <<'PY'
import json
import os
import re
import sys

root, provider, since, machine, date, command = sys.argv[1:7]
since = int(since)
chart, quick = sys.argv[7] == "1", sys.argv[8] == "1"
busy = max(int(sys.argv[9]), int(sys.argv[10]))
stale = []
# rayon's global pool: RAYON_NUM_THREADS, else one thread per CPU.
global_threads = os.environ.get("RAYON_NUM_THREADS") or str(len(os.sched_getaffinity(0)))


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


def div(v, n):
    return None if v is None else v / n


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


mint = {w: median_us("mint", w) for w in ("ours", "floor", "josekit")}
open_ = {w: median_us("open", w) for w in ("ours", "floor", "josekit")}
f16 = {w: median_us("fanout16", w) for w in ("mint_x16", "pool1", "pool2", "outside", "mint_all")}


def main_table():
    rows = [
        "| operation | jwe-mint µs | provider floor µs | josekit µs | jwe-mint / floor | josekit / jwe-mint |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in (("mint one token", mint), ("open one token", open_)):
        rows.append(
            f"| {name} | {us(r['ours'])} | {us(r['floor'])} | {us(r['josekit'])} "
            f"| {ratio(r['ours'], r['floor'])} | {ratio(r['josekit'], r['ours'])} |"
        )
    return rows


def fanout16_rows():
    base = div(f16["mint_x16"], 16)
    rows = [
        "| fan-out of 16 | µs per token | vs 16 × `mint` |",
        "| --- | ---: | ---: |",
        f"| 16 × `mint` (calling thread) | {us(base)} | 1.00× |",
    ]
    for key, name in (
        ("pool1", "`mint_all`, called on a 1-thread pool"),
        ("pool2", "`mint_all`, called on a 2-thread pool"),
        ("outside", f"`mint_all`, called from a non-pool thread (global pool: {global_threads} threads)"),
        ("mint_all", "`mint_all` (no `parallel` feature)"),
    ):
        v = div(f16[key], 16)
        if v is not None:
            rows.append(f"| {name} | {us(v)} | {ratio(v, base)} |")
    rows += ["", "Wall-clock time per token: below 1.00× is faster; two threads on two free cores can reach 0.50×."]
    return rows


# ---- the full report (stdout) ----
print(f"## jwe-mint hot path — provider: {provider}")
print()
print(f"{date} (UTC), {machine}. Medians. Token: ES256 at+jwt JWS (~350 B claims) in ECDH-ES+A256KW/A256GCM, P-256.")
print()
print("\n".join(main_table()))
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
print("\n".join(fanout16_rows()))
print()
hit = median_us("open", "cache_hit")
print(f"RS cache hit (`ResourceServerBuilder::cache`, same token again): {us(hit)} µs")
t1, t2, seq = median_us("batch64", "threads1"), median_us("batch64", "threads2"), median_us("batch64", "sequential")
if t1 is not None or t2 is not None:
    print(f"Batch of 64 mints (`--features parallel`): 1 thread {us(t1)} µs, 2 threads {us(t2)} µs, speed-up {ratio(t1, t2)}")
elif seq is not None:
    print(f"Batch of 64 mints (sequential; run with `--features parallel` for the rayon speed-up): {us(seq)} µs")
if stale:
    print()
    print("stale (not produced by this run, omitted): " + ", ".join(sorted(set(stale))))

# ---- README block (--chart) ----
if chart:
    reasons = []
    if quick:
        reasons.append("a quick run (`--quick`: shortened warm-up and measurement)")
    if busy > 15:
        reasons.append(f"the machine was busy ({busy}% of the CPUs in use by other work around the run)")
    block = [
        f"Measured {date} (UTC) on {machine}; provider {provider}; medians; "
        f"regenerate with `{command.strip()}`.",
        "",
    ]
    if reasons:
        block += [f"**Provisional:** {' and '.join(reasons)}; the numbers will be regenerated on a quiet machine.", ""]
    block += main_table() + [""] + fanout16_rows()
    with open("README.md") as fh:
        readme = fh.read()
    start, end = "<!-- bench-report:start -->", "<!-- bench-report:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(readme):
        sys.exit(f"README.md has no {start} … {end} markers")
    readme = pattern.sub(lambda _: start + "\n" + "\n".join(block) + "\n" + end, readme, count=1)
    with open("README.md", "w") as fh:
        fh.write(readme)
    with open(sys.argv[11], "w") as fh:
        fh.write(f"{date} · {machine} · {provider}" + (" · PROVISIONAL" if reasons else ""))
    print("\nREADME.md: table updated", file=sys.stderr)
PY

if [[ -n "$chart" ]]; then
    mkdir -p docs
    cargo run --quiet --release --manifest-path scripts/bench-chart/Cargo.toml --target-dir "$target_dir" -- \
        --criterion "$target_dir/criterion" --out docs/bench.svg --since "$since" \
        --title "jwe-mint hot path: median µs per operation" \
        --subtitle "$(cat "$subtitle_file")"
fi
