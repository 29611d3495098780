#!/usr/bin/env bash
# Issue #27's GPU measurements in one device session (about 9 minutes): run from the repository root on a CUDA machine
# whose Python has torch, with .whl/site312.tar.xz holding ray, deap and jsonschema for it; results go to $OUT.
# SMOKE=1 runs every step tiny on the CPU here, to check the script (OUT defaults to a temporary folder).
# The tarball (28 MB; ray's wheel alone is over the device's 64 MiB carry limit, so its Java, RLlib, Data, Serve, LLM,
# Train, Tune and dashboard client are left out: evoact's WorkerPool needs none of them), made here once:
#   d=$(mktemp -d); for p in ray==2.60.0 deap==1.4.4 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
#     referencing==0.37.0 rpds-py==0.30.0; do pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$d/w" "$p"; done
#   mkdir "$d/s"; for w in "$d"/w/*.whl; do unzip -q -o "$w" -d "$d/s"; done
#   (cd "$d/s/ray" && rm -rf jars rllib data serve llm train tune dashboard/client)
#   mkdir -p .whl && tar -cJf .whl/site312.tar.xz -C "$d/s" .      # .whl/ is in .git/info/exclude
# then, with the device tool: command "bash bench/device_27.sh", carry [".whl/site312.tar.xz"], timeout 590 s.
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
