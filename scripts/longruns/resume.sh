#!/bin/bash
# Start (or restart) the long runs of issues 10 (the zoo's rebuild) and 14 (the transfer matrix) in the background,
# from their runner worktrees at fixed commits, with the committers that land their outputs as they finish. Each is
# started only when it is not running already (a kept machine resumes its processes with it; one may have died).
# Run it when no test suite is running; save their work with checkpoint.sh, stop them with stop.sh.
set -e
source "$(dirname "$0")/common.sh"
running() { pgrep -f "$1" > /dev/null; }
[ -x "$PY" ] || make -C "$MAIN" install
rm -f "$L/stop-autocommit"
runner_worktrees
# Once the matrix has every run (it exits 0), its core trains the zoo beside the first build: each entry is locked by
# the process building it, so the two never build the same one. A matrix stopped (stop.sh) or failing exits non-zero.
if running "bench/transfer_matrix.py"; then echo "transfer matrix: already running, left alone"; else
  (
    cd "$MATRIX_WT" && OMP_NUM_THREADS=1 PYTHONPATH=$MATRIX_WT TSHUB_DATA=$DATA nice -n 10 "$PY" \
      bench/transfer_matrix.py --run --engine ray --out "$MAIN/bench/results/transfer_matrix_runs" >> "$L/matrix.log" 2>&1 &&
      build_zoo --threads 1 --only '*/fcn' >> "$L/zoo.log" 2>&1
  ) &
  echo "transfer matrix: started"
fi
# A parked state resumes only in its own precision (the training's fingerprint holds bf16): a float32 one is finished
# in float32 on a CPU with bf16 (oneDNN capped below AVX512-bf16, so trains_in_bf16 says no); on a CPU that emulates
# bf16 a bf16 state restarts in float32 (bf16 would run 11x slower there). Then the rest at this CPU's best.
if running "scripts/publish/build_zoo.py"; then echo "zoo build: already running, left alone"; else
  emulated=$(bf16_emulated)
  first=()
  for sidecar in "$MAIN"/zoo-progress/*.state.safetensors.precision; do
    [ -e "$sidecar" ] || continue
    id=$(basename "$sidecar" | cut -d. -f1 | sed 's/__/\//')
    if [ "$(cat "$sidecar")" = float32 ] && [ "$emulated" = 0 ]; then first+=("$id"); fi
    if [ "$(cat "$sidecar")" = bf16 ] && [ "$emulated" = 1 ]; then echo "$id: parked in bf16, restarts in float32 here" >> "$L/zoo.log"; fi
  done
  (
    for id in "${first[@]}"; do ONEDNN_MAX_CPU_ISA=AVX512_CORE build_zoo --threads 1 --only "$id"; done
    build_zoo --threads 1 --only '*/fcn'
  ) >> "$L/zoo.log" 2>&1 &
  echo "zoo build: started"
fi
for committer in commit_matrix commit_zoo; do
  if running "scripts/longruns/$committer.sh"; then echo "$committer: already running, left alone"; else
    nohup bash "$MAIN/scripts/longruns/$committer.sh" >> "$L/commit.log" 2>&1 &
    echo "$committer: started"
  fi
done
echo "logs in $L"
