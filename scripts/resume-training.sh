#!/usr/bin/env bash
# Continues the retrieval model's training run (runs/rag) on any machine: prepares the data as
# the run was prepared, then resumes from runs/rag's own checkpoints when they are here, or else
# from the committed snapshot (snapshots/rag: the last finished epoch's weights, a fresh
# optimizer, the learning-rate schedule where that epoch ended). Before stopping a session:
#   nl2py snapshot --run runs/rag --out snapshots/rag   (then commit snapshots/rag)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${NL2PY_DATA:-../shared/data}
cargo build --release -p model-export
nl2py=target/release/nl2py
[[ -f prepared-rag/index.bin ]] ||
    $nl2py prepare --data "$data" --out prepared-rag --max-vocab 8000 --neighbours 2 --max-example-len 96
exec $nl2py train --resume --snapshot snapshots/rag --data prepared-rag --out runs/rag
