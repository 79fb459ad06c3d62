#!/usr/bin/env bash
# Benchmarks process mining on the BPI Challenge 2013 incidents log against pm4py, in one run:
#   Rust (mining crate)  : import + directly-follows graph + variants, one process, one import
#   pm4py chunk_regex    : pm4py.read_xes(path, variant="chunk_regex") + discover_dfg + get_variants
#   pm4py r4pm           : pm4py.read_xes(path, variant="r4pm")        + discover_dfg + get_variants
# and DFG + variants on a generated log of 10,000,000 events (time and peak memory).
# Reports the median of N runs of each and the ratios. Needs python3 (with venv) and PyPI.
#
# usage: tools/bench_mining.sh [RUNS] [XES_FILE]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${1:-5}"
LOG="${2:-$ROOT/../shared/data/eventlogs/bpic2013/bpi_challenge_2013_incidents.xes.gz}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET/bench-mining-venv"
SYNTHETIC_EVENTS="${SYNTHETIC_EVENTS:-10000000}"

if [ ! -f "$LOG" ]; then
  echo "skipped: $LOG not found" >&2
  exit 0
fi

# --- Python side: pm4py, r4pm, polars, pyarrow in a virtual env under target/.
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import pm4py, r4pm, polars, pyarrow' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check pm4py r4pm polars pyarrow
fi

# --- Rust side: the mining crate's bench binary times import + DFG + variants in one process,
# with one import, as pm4py is timed below (interpreter start-up and imports excluded on both sides).
(cd "$ROOT" && cargo bench -p mining --bench mining --no-run --quiet 2>/dev/null) || \
  (cd "$ROOT" && cargo bench -p mining --bench mining --no-run)
BENCH_BIN="$(cd "$ROOT" && cargo bench -p mining --bench mining --no-run --message-format=json 2>/dev/null \
  | "$VENV/bin/python" -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["bench"]:
        print(m["executable"])' | tail -1)"

RESULTS="$(mktemp -d)"
trap 'rm -rf "$RESULTS"' EXIT

"$BENCH_BIN" --xes "$LOG" --runs "$RUNS" | tail -1 > "$RESULTS/rust.json"

# For reference, what an analyst at the shell gets: `rapport mine dfg` and `rapport mine variants`,
# two processes, each starting up and importing the log. Reported beside, not used for the ratios.
RAPPORT="$TARGET/release/rapport"
if [ -x "$RAPPORT" ] && "$RAPPORT" mine --help >/dev/null 2>&1; then
  "$VENV/bin/python" - "$RAPPORT" "$LOG" "$RUNS" > "$RESULTS/cli.json" <<'PY'
import json, statistics, subprocess, sys, time
rapport, log, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(runs):
    started = time.perf_counter()
    subprocess.run([rapport, "mine", "dfg", log], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([rapport, "mine", "variants", log], check=True, stdout=subprocess.DEVNULL)
    times.append(time.perf_counter() - started)
print(json.dumps({"how": "rapport mine dfg + rapport mine variants (two processes, two imports)", "runs_s": times, "median_s": statistics.median(times)}))
PY
fi

for variant in chunk_regex r4pm; do
  # pm4py prints a banner on stderr: keep it out of the report unless the run fails.
  if ! "$VENV/bin/python" - "$LOG" "$RUNS" "$variant" > "$RESULTS/pm4py_$variant.json" 2> "$RESULTS/pm4py_$variant.err" <<'PY'
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pm4py
log_path, runs, variant = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times, shape = [], None
for _ in range(runs):
    started = time.perf_counter()
    df = pm4py.read_xes(log_path, variant=variant)
    dfg, start, end = pm4py.discover_dfg(df)
    variants = pm4py.get_variants(df)
    times.append(time.perf_counter() - started)
    shape = {"edges": len(dfg), "variants": len(variants)}
print(json.dumps({"how": f"pm4py {pm4py.__version__} read_xes(variant={variant!r}) + discover_dfg + get_variants", **shape, "runs_s": times, "median_s": statistics.median(times)}))
PY
  then
    cat "$RESULTS/pm4py_$variant.err" >&2
    exit 1
  fi
done

if [ "$SYNTHETIC_EVENTS" != "0" ]; then
  "$BENCH_BIN" --synthetic "$SYNTHETIC_EVENTS" --runs 3 | tail -1 > "$RESULTS/synthetic.json"
fi

"$VENV/bin/python" - "$RESULTS" <<'PY'
import json, os, sys
results = sys.argv[1]
load = lambda name: json.load(open(os.path.join(results, name)))
rust, chunk, r4pm = load("rust.json"), load("pm4py_chunk_regex.json"), load("pm4py_r4pm.json")
print("BPIC 2013 incidents: import + DFG + variants, median of runs")
for label, result in [("rust", rust), ("pm4py chunk_regex", chunk), ("pm4py r4pm", r4pm)]:
    print(f"  {label:18} {result['median_s']:8.3f} s   ({result.get('how', result.get('bench'))})")
print(f"  speed-up vs pm4py chunk_regex: {chunk['median_s'] / rust['median_s']:6.1f}x (goal >= 20x)")
print(f"  speed-up vs pm4py r4pm:        {r4pm['median_s'] / rust['median_s']:6.1f}x (goal > 1x)")
cli_path = os.path.join(results, "cli.json")
cli = json.load(open(cli_path)) if os.path.exists(cli_path) else None
if cli:
    print(f"  for reference: {cli['how']}: {cli['median_s']:.3f} s")
path = os.path.join(results, "synthetic.json")
if os.path.exists(path):
    synthetic = json.load(open(path))
    print(f"Generated log: {synthetic['events']:,} events, {synthetic['cases']:,} cases: DFG + variants "
          f"{synthetic['median_s']:.3f} s (goal < 2 s), peak RSS {synthetic['peak_rss_mib']:.0f} MiB (goal < 2048)")
print(json.dumps({"rust": rust, "pm4py_chunk_regex": chunk, "pm4py_r4pm": r4pm, "rapport_cli": cli,
                  "synthetic": json.load(open(path)) if os.path.exists(path) else None}))
PY
