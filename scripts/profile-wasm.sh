#!/usr/bin/env bash
# Where the page's CPU path spends its time, without a browser: bench/wasm_profile.rs, built for
# wasm32 as the page's wasm is (simd128, the `web` profile, Flex with `simd`), runs the speed
# prompts under Node's WASI with `node --cpu-prof`; the functions with the most time of their own
# are listed (round 0, the warm-up, and the model's load are in the profile too: use enough
# rounds). Same engine as Chromium (V8), and close to the page benchmark's speed (docs/speed.md).
# A profiler, never a test. Needs node (Debian: apt-get install nodejs) and python3.
#   scripts/profile-wasm.sh [greedy|default|first-token] [ROUNDS] [BUNDLE]
set -euo pipefail
cd "$(dirname "$0")/.."
search=${1:-greedy} rounds=${2:-20} bundle=$(realpath "${3:-model/default.nl2py}")
command -v node >/dev/null || { echo "node is needed (Debian: apt-get install nodejs)" >&2; exit 1; }

rustup target add wasm32-wasip1 >/dev/null 2>&1
cargo build -p nl2py --features burn/simd --profile web --target wasm32-wasip1 --example wasm_profile
wasm=$PWD/target/wasm32-wasip1/web/examples/wasm_profile.wasm
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$out"
node --no-warnings --cpu-prof --cpu-prof-interval 100 --input-type=module -e '
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
const [wasm, ...args] = process.argv.slice(1);
const wasi = new WASI({ version: "preview1", args: ["wasm_profile", ...args], preopens: { "/": "/" }, returnOnExit: true });
const instance = await WebAssembly.instantiate(await WebAssembly.compile(await readFile(wasm)), wasi.getImportObject());
process.exitCode = wasi.start(instance);
' "$wasm" "$bundle" "$search" "$rounds"

python3 - "$out"/*.cpuprofile <<'EOF'
import collections
import json
import re
import sys

profile = json.load(open(sys.argv[1]))
names = {node["id"]: node["callFrame"]["functionName"] or "(anonymous)" for node in profile["nodes"]}
own = collections.Counter()
for sample, micros in zip(profile["samples"], profile["timeDeltas"]):
    own[names[sample]] += micros


def readable(name):
    """A Rust symbol's path (legacy mangling: length-prefixed parts, then a hash)."""
    if not name.startswith("_ZN"):
        return name
    rest, parts = name[3:], []
    while (m := re.match(r"(\d+)", rest)) and not rest.startswith("17h"):
        length = int(m.group(1))
        part = rest[m.end():m.end() + length]
        parts.append(part[1:] if part.startswith("_$") else part)  # "_" escapes a leading "$"
        rest = rest[m.end() + length:]
    path = "::".join(parts)
    for code, text in {"$u7b$": "{", "$u7d$": "}", "$LT$": "<", "$GT$": ">", "$u20$": " ",
                       "$RF$": "&", "$C$": ",", "$BP$": "*", "..": "::"}.items():
        path = path.replace(code, text)
    return path


total = sum(own.values())
print(f"\n{total / 1e3:.0f} ms profiled; the functions with the most time of their own:")
for name, micros in own.most_common(25):
    print(f"{100 * micros / total:5.1f} %  {micros / 1e3:8.1f} ms  {readable(name)[:110]}")
EOF
