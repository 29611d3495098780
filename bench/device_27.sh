#!/usr/bin/env bash
# Issue #27's GPU measurements in one device session (about 9 minutes): run from the repository root on a CUDA machine
# whose Python has torch, with .whl/site312.tar.xz holding ray, deap and jsonschema for it; results go to $OUT.
# SMOKE=1 runs every step tiny on the CPU here, to check the script (OUT defaults to a temporary folder).
# The tarball (28 MB; ray's wheel alone is over the device's 64 MiB carry limit, so its Java, RLlib, Data, Serve, LLM,
# Train, Tune and dashboard client are left out: evoact's WorkerPool needs none of them), made here once:
#   d=$(mktemp -d); for p in ray==2.60.0 deap==1.4.4 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
#     referencing==0.37.0 rpds-py==0.30.0 moocore==0.3.2 cffi==2.0.0 pycparser==3.0 platformdirs==4.14.9; do pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$d/w" "$p"; done
#   mkdir "$d/s"; for w in "$d"/w/*.whl; do unzip -q -o "$w" -d "$d/s"; done
#   (cd "$d/s/ray" && rm -rf jars rllib data serve llm train tune dashboard/client)
#   mkdir -p .whl && tar -cJf .whl/site312.tar.xz -C "$d/s" .      # .whl/ is in .git/info/exclude
# then, with the device tool: command "bash bench/device_27.sh", carry [".whl/site312.tar.xz"], timeout 590 s.
# STEPS picks and orders the steps (all by default); PER_GPU the sharing section's trainings per GPU.
set -u
T0=$(date +%s)
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
BUDGET=${BUDGET:-540}
export PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0
# evoact as installed (search_spaces/ becomes evoact.search_spaces, as pyproject.toml maps it), from this tree
rm -rf /tmp/pkg && mkdir -p /tmp/pkg && cp -r evoact /tmp/pkg/ && cp -r search_spaces /tmp/pkg/evoact/search_spaces
STEPS=${STEPS:-fast native loop sharing search compile fused}  # correct: every mode against autograd
PER_GPU=${PER_GPU:-1 2 4 8}
if [ "${SMOKE:-0}" = 1 ]; then
  PY=python; SMOKE_ARG=--smoke; SPEED="--devices cpu --sizes 100000 --reps 3"
  export PYTHONPATH=/tmp/pkg
else
  PY=python3; SMOKE_ARG=; SPEED="--devices cuda"
  $PY -c "import tarfile; tarfile.open('.whl/site312.tar.xz').extractall('/tmp/site')" || exit 1
  export PYTHONPATH=/tmp/pkg:/tmp/site
  # the repository root comes first on sys.path for python -c and -m: its evoact/ needs the spaces as installed too
  cp -r search_spaces evoact/search_spaces
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$OUT/env.txt"
fi
$PY -c "import torch, ray, deap, evoact.search_spaces as s; print('torch', torch.__version__, 'ray', ray.__version__,
  'evoact from', s.__file__)" >>"$OUT/env.txt" 2>&1
# a step runs for at most its cap and what is left of BUDGET (skipped under 15 s), killed 10 s after its TERM
step() {
  local cap=$1 file=$2 left; shift 2; left=$((BUDGET - ($(date +%s) - T0)))
  [ "$left" -lt "$cap" ] && cap=$left
  if [ "$cap" -lt 15 ]; then echo "== skipped (out of time): $*" >>"$OUT/log.txt"; return; fi
  echo "== $* at $(($(date +%s) - T0)) s, cap $cap s" >>"$OUT/log.txt"
  timeout -k 10 "$cap" "$@" >>"$OUT/$file" 2>>"$OUT/log.txt"
  echo "rc $? at $(($(date +%s) - T0)) s" >>"$OUT/log.txt"
}
for name in $STEPS; do
  case $name in
    correct) step 60 correctness.md $PY bench/cuda_paths.py $SMOKE_ARG --sections correctness ;;
    fast) step 160 fast.md $PY bench/cuda_paths.py $SMOKE_ARG --sections fast ;;
    native) step 60 native_cuda.txt $PY bench/compiler_speed.py $SPEED --tables 1 --no-composed ;;
    native1) step 40 native_cuda_block1.txt $PY bench/compiler_speed.py $SPEED --tables 1 --no-composed --block 1 ;;
    loop) step 80 loop.md $PY bench/cuda_paths.py $SMOKE_ARG --sections loop ;;
    sharing) step 150 sharing.md $PY bench/cuda_paths.py $SMOKE_ARG --sections sharing --per-gpu $PER_GPU ;;
    search) step 110 search.md $PY bench/cuda_paths.py $SMOKE_ARG --sections search ;;
    compile) step 90 compile_silu.txt $PY bench/cuda_paths.py $SMOKE_ARG --sections compile ;;
    fused) step 170 fused_cuda.txt $PY bench/compiler_speed.py $SPEED --tables 3 ;;
    *) echo "unknown step $name" >>"$OUT/log.txt" ;;
  esac
done
echo "total $(($(date +%s) - T0)) s" >>"$OUT/log.txt"
