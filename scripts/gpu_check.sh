#!/usr/bin/env bash
# One-command GPU check (issue 14): the CUDA tests, then the prediction and strokes benchmarks
# at small sizes, each under its own time limit (about 8 minutes in all), then one summary.
#
#   bash scripts/gpu_check.sh                 with the interpreter in $PYTHON (default python3)
#   PYTHON=.venv/bin/python bash scripts/gpu_check.sh
#
# The interpreter needs torch with CUDA and napari-unet's core dependencies (not napari or Qt:
# only tests/core and the benchmarks run). Where nothing can be downloaded (the device machine
# of this project), carry wheels: `pip download -d wheels <deps>` here for that Python, then
# WHEELS=wheels bash scripts/gpu_check.sh installs them with --no-index first. The strokes
# benchmark needs ../shared/data (skipped, and said so, where it is missing). Figures go to
# stdout and to $OUT/gpu_check.txt when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOG=${OUT:-/tmp}/gpu_check.txt
: >"$LOG"
summary=()
say() { printf '%s\n' "$*" | tee -a "$LOG"; }

if [ -n "${WHEELS:-}" ]; then
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" -e . --no-build-isolation \
        2>&1 | tail -3 | tee -a "$LOG"
fi
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"

say "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    say "no CUDA device visible to $PY: nothing to check"
    exit 1
fi
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" \
    | tee -a "$LOG"

part() {  # part NAME SECONDS COMMAND...: run with a time limit, keep its verdict
    local name=$1 limit=$2
    shift 2
    say "== $name (limit ${limit} s)"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    local verdict=passed
    [ "$rc" = 124 ] && verdict="TIMED OUT"
    [ "$rc" != 0 ] && [ "$rc" != 124 ] && verdict="FAILED (exit $rc)"
    summary+=("$name: $verdict in $((SECONDS - start)) s")
}

part "CUDA tests" 180 "$PY" -m pytest -q -p no:cacheprovider tests/core -k "cuda or gpu" \
    -m "not slow or slow"
part "prediction benchmark (2D)" 120 "$PY" benchmarks/bench_predict.py --only 2d --runs 1 \
    --device cuda
if [ -d ../shared/data ]; then
    part "strokes benchmark (em, nuclei; 1 seed; 15, 30 s)" 240 "$PY" benchmarks/bench_strokes.py \
        --kinds em,nuclei --seeds 1 --times 15,30 --device cuda
else
    summary+=("strokes benchmark: skipped (../shared/data is not here)")
fi

say "== summary"
for line in "${summary[@]}"; do say "$line"; done
grep -E "b/a|b/c|speed:|\| (em|nuclei) \|" "$LOG" | sed 's/^/  /' | tee -a "$LOG.tmp" >/dev/null
cat "$LOG.tmp" 2>/dev/null; rm -f "$LOG.tmp"
