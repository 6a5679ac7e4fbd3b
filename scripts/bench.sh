#!/usr/bin/env bash
# Generation speed on this machine, natively (`nl2py bench`) and in the page in headless Chromium
# (tests/page_speed.rs), side by side in one table: the same model, prompts, token limit and
# searches, tokens/s counted as the page counts them. A benchmark, never a test: nothing fails
# on speed. Needs what scripts/setup.sh --browser installs; builds what it runs first.
#   scripts/bench.sh [--model model/default.nl2py]
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo build --release -p model-export
trunk build --release
./target/release/nl2py bench --steps 2 --json "$@" >"$out/native.json"
cargo test --release --test page_speed -- --ignored --nocapture 2>/dev/null | grep '^{' >"$out/page.jsonl"

python3 - "$out/native.json" "$out/page.jsonl" <<'EOF'
import json
import sys

native = json.load(open(sys.argv[1]))
page = [json.loads(line) for line in open(sys.argv[2])]
print(f"{native['threads']} threads; native steps in µs:",
      ", ".join(f"{s['decoder']} {s['rows']} row(s) {s['microseconds']:.0f}" for s in native["step_microseconds"]))
for row in page:
    if "not_timed" in row:
        print(f"page, {row['backend']}: not timed ({row['not_timed']})")
print(f"{'search':<18} {'where':<28} {'first token ms':>14} {'tokens/s':>9} {'native ÷ page':>13}")
for search in ("greedy", "default (beam 4)"):
    ours = [g for g in native["generation"] if g["search"] == search]
    cpu = next(g for g in ours if g["decoder"] == "CPU decoder")
    for g in ours:
        print(f"{search:<18} {'native, ' + g['decoder']:<28} {g['first_token_ms']:>14.1f} {g['tokens_per_s']:>9.0f}")
    for row in page:
        if row.get("search") == search:
            where = f"page, {row['backend']} (load {row['load_ms']:.0f} ms)"
            ratio = cpu["tokens_per_s"] / row["tokens_per_s"]
            print(f"{search:<18} {where:<28} {row['first_token_ms']:>14.1f} {row['tokens_per_s']:>9.0f} {ratio:>13.2f}")
EOF
