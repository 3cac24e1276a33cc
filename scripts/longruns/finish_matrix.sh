#!/bin/bash
# Issue 14's last steps, once every target of the transfer matrix is complete: its table, the ranking methods scored
# on it (bench/rank_methods.py's protocol), and the advice's evidence refitted with it. Scores nothing while a target
# is incomplete (the table says "In progress"); run it after resume.sh's matrix has finished. Each step logs to
# $L/finish-<step>.log; nothing is committed (read the results, then commit them with the README's paragraph).
source "$(dirname "$0")/common.sh"
set -euo pipefail
trap 'echo "a step failed: see the last of $L/finish-*.log" >&2' ERR
cd "$MAIN"
export PYTHONPATH=$MAIN TSHUB_DATA=$DATA

"$PY" bench/transfer_matrix.py --table > "$L/finish-table.log" 2>&1
if grep -q "^In progress:" bench/results/transfer_matrix.md; then
  grep "^In progress:" bench/results/transfer_matrix.md
  echo "the matrix is not complete: nothing scored (resume.sh runs it on)"
  exit 1
fi
"$PY" bench/rank_methods.py --truth matrix --signals-only > "$L/finish-signals.log" 2>&1
"$PY" bench/rank_methods.py --truth matrix --out bench/results/rank_methods_matrix > "$L/finish-rank.log" 2>&1
"$PY" bench/transfer_advice.py --evidence matrix finetune_vs_scratch recommender --write-evidence \
  > "$L/finish-advice.log" 2>&1
echo "done: bench/results/transfer_matrix.md, rank_methods_matrix.md (rank_methods.md stays the recommender truth's),"
echo "transfer_advice.md, tshub/recommender/advice_evidence.json"
