#!/bin/bash
# Start (or restart) the long runs of issues 10 (the zoo's rebuild) and 14 (the transfer matrix) in the background,
# from their runner worktrees at fixed commits, with the committers that land their outputs as they finish.
# Two lanes, one per core: each trains the zoo while an entry is left to claim (issue 10: two build processes, one
# per core; each entry is locked by the process building it), then runs the transfer matrix (one at a time: the
# first lane free starts it, with two Ray workers at nice 19, so a zoo build still running keeps its core), then the
# zoo again (a parked state a fresh machine brought). The zoo, the nearer to done, finishes first this way, and the
# matrix no later than when the two shared the cores. Only missing lanes and committers are started (one may have
# died, or been stopped). Run it when no test suite is running; save their work with checkpoint.sh (the runs go on),
# stop them with stop.sh.
set -e
source "$(dirname "$0")/common.sh"
[ -x "$PY" ] || make -C "$MAIN" install
rm -f "$L/stop-autocommit"
runner_worktrees
# A parked state resumes only in its own precision (the training's fingerprint holds bf16): a float32 one is finished
# in float32 on a CPU with bf16 (oneDNN capped below AVX512-bf16, so trains_in_bf16 says no); on a CPU that emulates
# bf16 a bf16 state restarts in float32 (bf16 would run 11x slower there). Every lane tries those first.
emulated=$(bf16_emulated)
first=()
for sidecar in "$MAIN"/zoo-progress/*.state.safetensors.precision; do
  [ -e "$sidecar" ] || continue
  id=$(basename "$sidecar" | cut -d. -f1 | sed 's/__/\//')
  if [ "$(cat "$sidecar")" = float32 ] && [ "$emulated" = 0 ]; then first+=("$id"); fi
  if [ "$(cat "$sidecar")" = bf16 ] && [ "$emulated" = 1 ]; then echo "$id: parked in bf16, restarts in float32 here" >> "$L/zoo.log"; fi
done
matrix() {  # exits non-zero when another lane runs it (flock), when stopped, or when it fails
  cd "$MATRIX_WT" && flock -n "$L/matrix.lock" env OMP_NUM_THREADS=1 PYTHONPATH=$MATRIX_WT TSHUB_DATA=$DATA \
    nice -n 10 "$PY" bench/transfer_matrix.py --run --engine ray --out "$MAIN/bench/results/transfer_matrix_runs"
}
zoo() { build_zoo --threads 1 --only "$@" >> "$L/zoo.log" 2>&1; }
lane() {
  set +e  # a failed entry is listed in the log; the lane goes on
  for id in "${first[@]}"; do ONEDNN_MAX_CPU_ISA=AVX512_CORE zoo "$id"; done
  zoo '*/fcn'
  [ -e "$L/stop-autocommit" ] && return  # stop.sh ended the build: start nothing after it
  matrix >> "$L/matrix.log" 2>&1 && zoo '*/fcn'
}
busy=$(( $(pgrep -fc "scripts/publish/build_zoo.py" || true) + $(pgrep -fc "bench/transfer_matrix.py" > /dev/null && echo 1 || echo 0) ))
for _ in $(seq $((busy < 2 ? 2 - busy : 0))); do
  lane &
  sleep 30  # the first lane claims its entry before the next looks
done
echo "lanes: $busy running, $((busy < 2 ? 2 - busy : 0)) started"
for committer in commit_matrix commit_zoo; do
  if pgrep -f "scripts/longruns/$committer.sh" > /dev/null; then echo "$committer: already running, left alone"; else
    nohup bash "$MAIN/scripts/longruns/$committer.sh" >> "$L/commit.log" 2>&1 &
    echo "$committer: started"
  fi
done
echo "logs in $L"
