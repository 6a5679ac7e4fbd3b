# Sourced by train-model.sh and ablation.sh: the nl2py binary, and training that skips a finished
# run and resumes a started one.
cargo build --release -q -p model-export
nl2py=target/release/nl2py

# train RUN DATA ARGS…: trains RUN on the prepared folder DATA unless it has finished, resuming it
# (with the settings it started with) when it was started.
train() {
  local run=$1 data=$2
  shift 2
  if [ -f "$run/model.nl2py" ]; then
    echo "$run: finished earlier"
    return
  fi
  local resume=()
  [ -f "$run/run.json" ] && resume=(--resume)
  local started=$SECONDS
  "$nl2py" train --data "$data" --out "$run" ${resume[@]+"${resume[@]}"} "$@"
  echo "$run: $(( (SECONDS - started) / 60 )) min this time"
}
