#!/usr/bin/env bash
# Kiln vs PyTorch, side by side in one run: bench/compare.sh [FILTER]
#
# Environment:
#   THREADS=n     threads for both sides (default 2)
#   ROUNDS=n      alternating Kiln-then-PyTorch rounds per workload (default 5)
#   TARGET_MS=t   time per round per side (default 300)
#   VENV=path     a virtual environment that already has torch (default: bench/.venv, created
#                 and filled from PyPI on first use)
# Results: a table on stdout, one JSON line per workload appended to bench/results/latest.jsonl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
threads="${THREADS:-2}"
venv="${VENV:-$here/.venv}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv" >&2
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "installing torch (CPU) into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch \
        || "$venv/bin/python" -m pip install --quiet torch
fi

(cd "$root" && cargo build --release --quiet -p kiln-bench)

export RAYON_NUM_THREADS="$threads"
export OMP_NUM_THREADS="$threads"
# Passive waiting: with the default (spinning) policy, PyTorch's OpenMP workers burn the shared
# cores between ops and lose whole scheduler ticks when the machine is busy (10x slower here).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mkdir -p "$here/results"
exec "$venv/bin/python" "$here/torch_bench.py" \
    --kiln "$root/target/release/kiln-bench" \
    --threads "$threads" \
    --rounds "${ROUNDS:-5}" \
    --target-ms "${TARGET_MS:-300}" \
    --out "$here/results/latest.jsonl" \
    "${1:-}"
