#!/bin/bash
# Commit each finished zoo checkpoint (its folder, the index, a parked state it dropped) when the build says done.
source "$(dirname "$0")/common.sh"
cd "$MAIN"
done_lines() { n=$(grep -c ": done in " "$L/zoo.log" 2>/dev/null); echo "${n:-0}"; }
seen=$(done_lines)
while [ ! -e "$L/stop-autocommit" ]; do
  sleep 60
  n=$(done_lines)
  [ "$n" -gt "$seen" ] || continue
  sleep 20  # the index is refreshed right after the done line
  grep ": done in " "$L/zoo.log" | tail -n $((n - seen)) | while read -r line; do
    id=$(echo "$line" | sed -E 's/^\[[0-9]+\/[0-9]+\] ([^:]+): done in.*/\1/')
    paths=("zoo/${id%/*}" zoo/index.json $(zoo_progress_path))
    git add -A -- "${paths[@]}"
    git commit -q -m "zoo: $id rebuilt on every training series (ucr_full_train --rule large) — ${line#*: }" -- "${paths[@]}" &&
      echo "$(date -u +%FT%T) committed $id"
  done
  seen=$n
done
