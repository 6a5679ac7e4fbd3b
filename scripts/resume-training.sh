#!/usr/bin/env bash
# Continues a training run on any machine: `scripts/resume-training.sh [NAME]` resumes runs/NAME
# from its own checkpoints when they are here, or else from the committed snapshot
# snapshots/NAME (the last finished epoch's weights, a fresh optimizer, the learning-rate
# schedule where that epoch ended). NAME defaults to the one folder in snapshots/. Prepares the
# data first with the flags snapshots/NAME/prepare-args holds and the snapshot's vocabularies
# (so readers changed since do not renumber the tokens). Before stopping a session:
#   nl2py snapshot --run runs/NAME --out snapshots/NAME   (then commit snapshots/NAME, and remove
#   the snapshot of a run that is finished)
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(scripts/fetch-data.py --where)
if [[ $# -ge 1 ]]; then
    name=$1
else
    shopt -s nullglob
    found=(snapshots/*/)
    [[ ${#found[@]} -eq 1 ]] || { echo "snapshots/ holds ${#found[@]} runs: name one" >&2; exit 2; }
    name=$(basename "${found[0]}")
fi
[[ -f snapshots/$name/snapshot.json ]] || { echo "no snapshot named $name in snapshots/" >&2; exit 2; }
cargo build --release -p model-export
nl2py=target/release/nl2py
read -r -a prepare_args < "snapshots/$name/prepare-args"
prepared=prepared-$name
[[ -f $prepared/index.bin ]] || $nl2py prepare --data "$data" --out "$prepared" "${prepare_args[@]}" \
    --vocabularies "snapshots/$name/model.nl2py" > /dev/null
exec $nl2py train --resume --snapshot "snapshots/$name" --data "$prepared" --out "runs/$name"
