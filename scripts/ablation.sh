#!/usr/bin/env bash
# The ablation table of MODEL.md: trains what its rows need (skipping finished runs, resuming
# killed ones) and scores each row with `nl2py eval --json` into $RUNS/ablation/ROW.json.
# Needs scripts/train-model.sh first (runs/lm, runs/tuned, prepared-mined).
#   baseline        no slots, train split only              runs/noslots
#   slots           + slot canonicalisation                 runs/base
#   python-lm       + decoder from the code LM              runs/lm-tuned
#   pair-pretrain   + whole-model pair pretraining          runs/tuned
#   beam            + beam search (4)                       runs/tuned
#   rerank          + beam reranked: parseable first        runs/tuned
#   anchor-conala   vanilla Transformer (post-norm, no slots, ~6.8 M parameters), CoNaLa alone,
#                   greedy, and anchor-conala-beam with beam search (4)
# Environment: DATA (default: the data folder, `scripts/fetch-data.py --where`), RUNS (default runs).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-$(scripts/fetch-data.py --where)}
RUNS=${RUNS:-runs}
source scripts/runs.sh
mkdir -p "$RUNS/ablation"
if [ ! -f "$RUNS/lm/model.nl2py" ] || [ ! -f "$RUNS/tuned/model.nl2py" ]; then
  echo "run scripts/train-model.sh first: $RUNS/lm and $RUNS/tuned are needed" >&2
  exit 1
fi

prepare() {
  local out=$1
  shift
  [ -f "$out/report.json" ] || "$nl2py" prepare --out "$out" "$@" > /dev/null
}
# score ROW RUN DATA ARGS…: eval into $RUNS/ablation/ROW.json unless done.
score() {
  local row=$1 run=$2 data=$3
  shift 3
  local out="$RUNS/ablation/$row.json"
  if [ ! -f "$out" ]; then
    "$nl2py" eval --model "$run" --data "$data" --json "$@" > "$out.partial"
    mv "$out.partial" "$out"
  fi
  echo "$row: $(tr -d '\n ' < "$out")"
}

base_recipe=(--epochs 12 --lr 7e-4 --warmup-steps 200 --patience 4)
tune_recipe=(--epochs 8 --lr 5e-4 --warmup-steps 200 --patience 4)

prepare prepared --data "$DATA"
prepare prepared-noslots --data "$DATA" --no-slots
mkdir -p data-conala
ln -sf "$(cd "$DATA" && pwd)/conala-train.json" "$(cd "$DATA" && pwd)/conala-test.json" data-conala/
prepare prepared-conala --data data-conala --no-slots

train "$RUNS/noslots" prepared-noslots "${base_recipe[@]}"
train "$RUNS/base" prepared "${base_recipe[@]}"
train "$RUNS/lm-tuned" prepared-mined --init-from "$RUNS/lm" --init-decoder-only "${tune_recipe[@]}"
train "$RUNS/conala-vanilla" prepared-conala --post-norm --d-ff 1280 "${base_recipe[@]}"

# The rows were measured before the search had Python-aware masking and a repetition limit: these
# flags reproduce the search they were measured with.
greedy=(--greedy --unconstrained --repeat-limit off --run)
beam=(--beam 4 --length-penalty 0.6 --unconstrained --repeat-limit off --run)
score baseline "$RUNS/noslots" prepared-noslots "${greedy[@]}"
score slots "$RUNS/base" prepared "${greedy[@]}"
score python-lm "$RUNS/lm-tuned" prepared-mined "${greedy[@]}"
score pair-pretrain "$RUNS/tuned" prepared-mined "${greedy[@]}"
score beam "$RUNS/tuned" prepared-mined "${beam[@]}" --no-rerank
score rerank "$RUNS/tuned" prepared-mined "${beam[@]}"
score anchor-conala "$RUNS/conala-vanilla" prepared-conala "${greedy[@]}"
score anchor-conala-beam "$RUNS/conala-vanilla" prepared-conala "${beam[@]}" --no-rerank
