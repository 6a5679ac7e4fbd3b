#!/usr/bin/env bash
# Trains the pretrained model from the data sets and exports it to $RUNS/tuned/model-f16.nl2py:
#   1. mine pretraining pairs from this machine's Python standard library (data/mined-stdlib.jsonl);
#   2. prepare the data sets plus data/ into prepared-mined/ (vocabularies capped at 7000);
#   3. a decoder-only language model over the code of train and pretrain pairs (runs/lm);
#   4. whole-model pretraining on the pretrain pairs, its decoder started from the LM (runs/pretrain);
#   5. fine-tuning on CoNaLa train + English–Python train, started from 4 (runs/tuned);
#   6. export as f16.
# Every stage resumes a killed run (`--resume`) and skips one that finished, so running the script
# again after an interruption continues where it stopped. Dev and test are never trained on.
# Environment: DATA (default: the data folder, `scripts/fetch-data.py --where`), RUNS (default runs).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-$(scripts/fetch-data.py --where)}
RUNS=${RUNS:-runs}
source scripts/runs.sh

mkdir -p data "$RUNS"
if [ ! -f data/mined-stdlib.jsonl ]; then
  "$nl2py" mine "$(python3 -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")" \
    --out data/mined-stdlib.jsonl
fi
if [ ! -f prepared-mined/report.json ]; then
  "$nl2py" prepare --data "$DATA" --data data --out prepared-mined --max-vocab 7000 > /dev/null
fi

train "$RUNS/lm" prepared-mined --corpus code --longest-code 64 --epochs 3 --patience 3 --warmup-steps 300
train "$RUNS/pretrain" prepared-mined --corpus pretrain --longest-code 64 --epochs 2 --patience 2 --warmup-steps 300 \
  --init-from "$RUNS/lm" --init-decoder-only
train "$RUNS/tuned" prepared-mined --init-from "$RUNS/pretrain" --epochs 8 --lr 5e-4 --warmup-steps 200 --patience 4

"$nl2py" export --model "$RUNS/tuned" --out "$RUNS/tuned/model-f16.nl2py" --precision f16 \
  --meta "trained=scripts/train-model.sh" --meta "stages=code LM, pair pretraining, fine-tuning"
