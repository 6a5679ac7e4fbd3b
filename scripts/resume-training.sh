#!/usr/bin/env bash
# Continues the training run in progress on any machine: the fine-tuning of the shipped retrieval
# model on the train split (runs/rag-ft; runs/rag, the 10 epochs it started from, is finished).
# Prepares the data as the run was prepared, then resumes from runs/rag-ft's own checkpoints when
# they are here, or else from the committed snapshot (snapshots/rag-ft: the last finished epoch's
# weights, a fresh optimizer, the learning-rate schedule where that epoch ended). Before stopping
# a session:
#   nl2py snapshot --run runs/rag-ft --out snapshots/rag-ft   (then commit snapshots/rag-ft)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${NL2PY_DATA:-../shared/data}
cargo build --release -p model-export
nl2py=target/release/nl2py
[[ -f prepared-rag/index.bin ]] ||
    $nl2py prepare --data "$data" --out prepared-rag --max-vocab 8000 --neighbours 2 --max-example-len 96
exec $nl2py train --resume --snapshot snapshots/rag-ft --data prepared-rag --out runs/rag-ft
