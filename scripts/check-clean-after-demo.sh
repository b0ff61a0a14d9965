#!/usr/bin/env bash
# After `make demo` in a fresh clone, the repository must be as it was: what DVC records
# (dvc.lock, the metrics files it hashes) may not depend on the machine. Anything that does
# (timings, the CPU, the hardware check) lives in the run records and MLflow, which git ignores.
set -euo pipefail
cd "$(dirname "$0")/.."
dirty="$(git status --porcelain)"
if [ -n "$dirty" ]; then
  echo "error: \`make demo\` left the repository modified:" >&2
  echo "$dirty" >&2
  git --no-pager diff --stat >&2 || true
  git --no-pager diff -- dvc.lock | head -80 >&2 || true
  echo "Fix: a DVC-tracked output or dependency depends on the machine or the run; move that" \
       "value to record.json / MLflow (docs/reproduction.md, \"Portable numerics\")," \
       "or commit the dvc.lock a clean demo writes if the pipeline itself changed." >&2
  exit 1
fi
echo "make demo left the repository clean (git status --porcelain is empty)"
