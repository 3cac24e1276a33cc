#!/bin/bash
# Stop the long runs (before a benchmark that needs the machine, say): park and commit as checkpoint.sh does, then
# stop everything. Runs in flight in the matrix are lost (its runner keeps no per-run state); the zoo loses at most
# the epochs since the park.
source "$(dirname "$0")/common.sh"
park_and_commit "long runs stopped"
touch "$L/stop-autocommit"
pkill -f "scripts/publish/build_zoo.py" || true
pkill -f "bench/transfer_matrix.py" || true
pkill -f "scripts/longruns/commit_" || true
