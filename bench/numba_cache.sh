#!/usr/bin/env bash
# numba's compile cache kept outside the clone (NUMBA_CACHE_DIR, as `make test` sets it): the DTW/DBA tests in a
# fresh clone with an empty cache, then in a second fresh clone at the same path reusing it. Writes
# bench/results/numba_cache.md. Usage: bench/numba_cache.sh [python] (default .venv/bin/python); needs ../shared/data.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-$repo/.venv/bin/python}
work=$(mktemp -d)
export NUMBA_CACHE_DIR=$work/numba TSHUB_DATA=${TSHUB_DATA:-$repo/../shared/data}
rows=""
for run in "cold (empty cache)" "warm (cache of the first clone)"; do
  rm -rf "$work/clone" && git clone -q "$repo" "$work/clone"
  start=$(date +%s.%N)
  summary=$(cd "$work/clone" && PYTHONPATH=. "$python" -m pytest -q -p no:cacheprovider tests/test_similarity.py | tail -1)
  rows+="| $run | $(echo "$(date +%s.%N) - $start" | bc | xargs printf '%.0f') s | $summary |"$'\n'
done
{
  echo "# numba compile cache across fresh clones"
  echo
  echo "\`bench/numba_cache.sh\` on $(nproc) cores, $(date -u +%Y-%m-%d): \`tests/test_similarity.py\` in a fresh clone, wall time."
  echo
  echo "| run | wall | pytest |"
  echo "|---|---|---|"
  printf '%s' "$rows"
} > "$repo/bench/results/numba_cache.md"
rm -rf "$work"
cat "$repo/bench/results/numba_cache.md"
