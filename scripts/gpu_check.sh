#!/usr/bin/env bash
# What to run when a CUDA GPU is at hand; under 8 minutes on one H100-class GPU. No test of
# `make test` needs a GPU: this is where the GPU paths get exercised.
#
#   bash scripts/gpu_check.sh              # needs a CUDA device: stops at once, exit 1, without one
#   bash scripts/gpu_check.sh --dry-run    # the same Python pieces on the CPU, 2 iterations each, no CUDA
#
# Steps (each with its own time limit; a failing step is reported and the next one still runs):
#   1. tests: the test files whose runs use the GPU when one is present (trainer.accelerator=auto picks
#      CUDA): training, resume, precision, evaluation and quality metrics. No test skips without CUDA;
#      these are the ones that then run on it.
#   2. make bench for dcgan and resnet in fp32 (IEEE), TF32 and bf16-mixed (scripts/bench.py).
#   3. experiment=cifar10_resnet (Table 3, App. F) for a few hundred generator iterations on CIFAR-format
#      data written on the spot (scripts/time_experiment.py): s per generator iteration and the projected
#      time of its 100K iterations. Target: under 1 hour on one H100-class GPU.
# Logs: $GPU_CHECK_DIR (default logs/gpu_check/<time>/), one file per step, and summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "usage: bash scripts/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
LOG_DIR=${GPU_CHECK_DIR:-logs/gpu_check/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$LOG_DIR"

if [ "$DRY_RUN" = 0 ]; then
  if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False). This check is for a machine with" >&2
    echo "an NVIDIA GPU and a CUDA build of torch; on the CPU run 'make test', or 'bash $0 --dry-run'." >&2
    exit 1
  fi
  "$PY" -c 'import torch; d = torch.cuda.get_device_properties(0); print(f"CUDA device: {d.name}, capability {d.major}.{d.minor}, {d.total_memory / 2**30:.0f} GiB; torch {torch.__version__}")' \
    | tee "$LOG_DIR/device.txt"
fi

TEST_FILES=(tests/test_train.py tests/test_faults_resume.py tests/test_precision.py tests/test_evaluation.py
  tests/test_quality_metrics.py tests/test_classifier_metric.py tests/test_objectives.py)
if [ "$DRY_RUN" = 1 ]; then
  TESTS=("$PY" -m pytest -q --collect-only "${TEST_FILES[@]}")  # the list is valid; `make test` runs them on the CPU
  BENCH=("$PY" scripts/bench.py --models dcgan --precisions 32-true tf32 bf16-mixed --rounds 1 --iters dcgan=1)
  TIMING=("$PY" scripts/time_experiment.py --experiment cifar10_resnet --iters 2 --warmup 1 --images 100)
else
  TESTS=("$PY" -m pytest -q -x "${TEST_FILES[@]}")
  BENCH=("$PY" scripts/bench.py --models dcgan resnet --precisions 32-true tf32 bf16-mixed --rounds 2
    --iters dcgan=20,resnet=10)
  TIMING=("$PY" scripts/time_experiment.py --experiment cifar10_resnet --iters 300 --warmup 50 --max-hours 1
    --json "$LOG_DIR/cifar10_resnet_timing.json")
fi

FAILED=()
run_step() {  # name, time limit (s), command...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s): $*"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$LOG_DIR/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$LOG_DIR/summary.txt"
  [ "$rc" = 0 ] || FAILED+=("$name (exit $rc$([ "$rc" = 124 ] && echo ', time limit'))")
}

run_step tests 210 "${TESTS[@]}"
run_step bench 150 "${BENCH[@]}"
run_step cifar10_resnet_timing 90 "${TIMING[@]}"

echo
grep -E "s per generator iteration|projected|target" "$LOG_DIR/cifar10_resnet_timing.log" | tee -a "$LOG_DIR/summary.txt"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "gpu_check: FAILED: ${FAILED[*]} (logs in $LOG_DIR)" | tee -a "$LOG_DIR/summary.txt"
  exit 1
fi
echo "gpu_check: all steps passed (logs in $LOG_DIR)" | tee -a "$LOG_DIR/summary.txt"
