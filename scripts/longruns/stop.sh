#!/bin/bash
# Stop the long runs for the end of a session: park the zoo's unfinished training in zoo-progress/ with the precision
# it ran in (a sidecar <state>.precision, read by resume.sh), commit it and the matrix's records, stop everything.
# Runs in flight in the matrix are lost (its runner keeps no per-run state); the zoo loses at most its last epoch.
source "$(dirname "$0")/common.sh"
parked=$(build_zoo --only '*/fcn' --park | tee /dev/stderr | sed -nE 's/^([^:]+): parked after .*/\1/p')
build=$(pgrep -f "scripts/publish/build_zoo.py" | head -1 || true)
if [ -n "$build" ] && tr '\0' '\n' < "/proc/$build/environ" | grep -q '^ONEDNN_MAX_CPU_ISA='; then
  precision=float32
else
  precision=$([ "$(bf16_emulated)" = 1 ] && echo float32 || echo bf16)
fi
touch "$L/stop-autocommit"
pkill -f "scripts/publish/build_zoo.py" || true
pkill -f "bench/transfer_matrix.py" || true
pkill -f "scripts/longruns/commit_" || true
cd "$MAIN"
shopt -s nullglob
# what this park copied ran in this session's precision; a state it left alone keeps its sidecar
for id in $parked; do
  for state in zoo-progress/"${id/\//__}".*.state.safetensors; do echo $precision > "$state.precision"; done
done
for sidecar in zoo-progress/*.precision; do [ -e "${sidecar%.precision}" ] || rm "$sidecar"; done
paths=(bench/results/transfer_matrix_runs $(zoo_progress_path))
git add -A -- "${paths[@]}"
git commit -q -m "long runs stopped: zoo-progress parked ($precision), transfer matrix records" -- "${paths[@]}" ||
  echo "nothing to commit"
