# Shared settings of the long runs (sourced): the repository, the logs folder, the Python, the two runner worktrees.
MAIN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
L=${TSHUB_LONGRUN_LOGS:-/work/zoo-logs}
PY=$MAIN/.venv/bin/python
DATA=${TSHUB_DATA:-$(cd "$MAIN/.." && pwd)/shared/data}
ZOO_WT=${ZOO_WT:-$(dirname "$MAIN")/wt-zoo-winograd2}
MATRIX_WT=${MATRIX_WT:-$(dirname "$MAIN")/wt-matrix-winograd2}
mkdir -p "$L"

# The runners, at fixed commits (their recipes, so a fresh machine rebuilds the same files; the commit hashes differ).
runner_worktrees() {
  cd "$MAIN"
  git worktree prune  # a worktree folder deleted with its machine stays registered until pruned
  if [ ! -d "$MATRIX_WT" ]; then  # f79fdd9 + tshub/models/ of 6132f07 + winograd/cpu/base of d20e56e
    git worktree add -q --detach "$MATRIX_WT" f79fdd9
    (cd "$MATRIX_WT" && git checkout -q 6132f07 -- tshub/models/ &&
      git checkout -q d20e56e -- tshub/models/winograd.py tshub/models/cpu.py tshub/models/base.py &&
      git -c user.name=runner -c user.email=runner@localhost commit -qm "runner: f79fdd9 + tshub/models/ of 6132f07 + winograd/cpu/base of d20e56e")
  fi
  if [ ! -d "$ZOO_WT" ]; then  # 19dfed9 + winograd/cpu/base of d20e56e
    git worktree add -q --detach "$ZOO_WT" 19dfed9
    (cd "$ZOO_WT" && git checkout -q d20e56e -- tshub/models/winograd.py tshub/models/cpu.py tshub/models/base.py &&
      git -c user.name=runner -c user.email=runner@localhost commit -qm "runner: 19dfed9 + winograd/cpu/base of d20e56e")
  fi
}

# The zoo builder as both runs call it: from the zoo runner, writing into the main checkout's zoo.
build_zoo() {
  (cd "$ZOO_WT" && PYTHONPATH=$ZOO_WT TSHUB_DATA=$DATA "$PY" scripts/publish/build_zoo.py --zoo "$MAIN/zoo" \
    --cards "$MAIN/model_cards" "$@")
}

# zoo-progress when it holds or held a parked state (git refuses a pathspec that matches nothing: an empty folder).
zoo_progress_path() {
  [ -n "$(ls -A "$MAIN/zoo-progress" 2>/dev/null)$(git -C "$MAIN" ls-files zoo-progress)" ] && echo zoo-progress
}

# 1 where oneDNN emulates bf16 (trains_in_bf16 then trains in float32), else 0.
bf16_emulated() {
  PYTHONPATH=$ZOO_WT "$PY" -c "import torch; from tshub.training.precision import emulated_bf16; print(int(emulated_bf16(torch.device('cpu'))))"
}

# The precision the zoo's build of entry $1 runs in: float32 where its process has oneDNN capped below AVX512-bf16
# (resume.sh finishing a float32 state), else $2, this CPU's best.
precision_of() {
  local pid
  for pid in $(pgrep -f "scripts/publish/build_zoo.py"); do
    if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "--only $1 " &&
      tr '\0' '\n' < "/proc/$pid/environ" | grep -q '^ONEDNN_MAX_CPU_ISA='; then
      echo float32
      return
    fi
  done
  echo "$2"
}

# Park the zoo's unfinished trainings in zoo-progress/, each with the precision it runs in (a sidecar
# <state>.precision, read by resume.sh), and commit them with the matrix's finished records; $1 begins the commit
# message. The runs go on.
park_and_commit() {
  local parked best id state sidecar paths
  parked=$(build_zoo --only '*/fcn' --park | tee /dev/stderr | sed -nE 's/^([^:]+): parked after .*/\1/p')
  cd "$MAIN"
  shopt -s nullglob
  best=$([ "$(bf16_emulated)" = 1 ] && echo float32 || echo bf16)
  # what this park copied ran in this session; a state it left alone keeps its sidecar
  for id in $parked; do
    for state in zoo-progress/"${id/\//__}".*.state.safetensors; do precision_of "$id" "$best" > "$state.precision"; done
  done
  for sidecar in zoo-progress/*.precision; do [ -e "${sidecar%.precision}" ] || rm "$sidecar"; done
  paths=(bench/results/transfer_matrix_runs $(zoo_progress_path))
  for _ in 1 2 3; do  # a committer may hold git's index lock for a moment
    git add -A -- "${paths[@]}" &&
      { git diff --cached --quiet -- "${paths[@]}" && echo "nothing to commit" ||
        git commit -q -m "$1: zoo-progress parked (${parked//$'\n'/, }), transfer matrix records" -- "${paths[@]}"; } &&
      return
    sleep 5
  done
  echo "commit failed: see git status" >&2
  return 1
}
