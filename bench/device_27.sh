#!/usr/bin/env bash
# Issue #27's GPU measurements in one device session (about 9 minutes): run from the repository root on a CUDA machine
# whose Python has torch, with .whl/site312.tar.xz holding ray, deap and jsonschema for it; results go to $OUT.
# SMOKE=1 runs every step tiny on the CPU here, to check the script (OUT defaults to a temporary folder).
set -u
T0=$(date +%s)
OUT=${OUT:-$(mktemp -d)}
BUDGET=${BUDGET:-540}
left() { local l=$((BUDGET - ($(date +%s) - T0))); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }
export PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0
if [ "${SMOKE:-0}" = 1 ]; then
  PY=python; SMOKE_ARG=--smoke; SPEED="--devices cpu --sizes 100000 --reps 3"
else
  mkdir -p /tmp/site && tar -xJf .whl/site312.tar.xz -C /tmp/site || exit 1
  export PYTHONPATH=/tmp/site:$PWD
  PY=python3; SMOKE_ARG=; SPEED="--devices cuda"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$OUT/env.txt"
fi
$PY -c "import torch, ray, deap; print('torch', torch.__version__, 'ray', ray.__version__)" >>"$OUT/env.txt" 2>&1
step() { local cap=$1 file=$2; shift 2; echo "== $* at $(($(date +%s) - T0)) s" >>"$OUT/log.txt"
  timeout "$(left "$cap")" "$@" >>"$OUT/$file" 2>>"$OUT/log.txt"; echo "rc $? at $(($(date +%s) - T0)) s" >>"$OUT/log.txt"; }
step 130 fast_loop.md $PY bench/cuda_paths.py $SMOKE_ARG --sections fast loop
step 60 native_cuda.txt $PY bench/compiler_speed.py $SPEED --tables 1 --no-composed
step 220 sharing.md $PY bench/cuda_paths.py $SMOKE_ARG --sections sharing search
step 80 compile.md $PY bench/cuda_paths.py $SMOKE_ARG --sections compile
step 90 silu_cuda.txt $PY bench/compiler_speed.py $SPEED --tables 3
echo "total $(($(date +%s) - T0)) s" >>"$OUT/log.txt"
