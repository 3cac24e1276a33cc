#!/bin/bash
# Commit the transfer matrix's finished run records every 20 minutes, until stop.sh.
source "$(dirname "$0")/common.sh"
cd "$MAIN"
D=bench/results/transfer_matrix_runs
while [ ! -e "$L/stop-autocommit" ]; do
  sleep 1200
  if [ -n "$(git status --porcelain -- $D)" ]; then
    git add -- $D
    counts=$("$PY" - <<'PY'
import collections, json, pathlib
counts = collections.Counter(
    json.loads(p.read_text())["target"] for p in pathlib.Path("bench/results/transfer_matrix_runs/runs").glob("*.json")
)
print(", ".join(f"{k} {counts[k]} of 86" for k in ("CricketX", "FiftyWords", "SmallKitchenAppliances", "Strawberry") if 0 < counts[k] < 86))
PY
)
    git commit -q -m "transfer matrix: run records (${counts:-the last targets})" -- $D && echo "$(date -u +%FT%T) committed records"
  fi
done
