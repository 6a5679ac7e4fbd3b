#!/usr/bin/env bash
# Runs every test of nl2py on a fresh machine. First installs what the tests need
# (scripts/setup.sh --browser: wasm32 target, wasm-bindgen-cli, trunk, wasm-opt, Chromium,
# ChromeDriver, Mesa's software Vulkan), then: unit and end-to-end tests, lints, the model on
# wgpu natively (software Vulkan), the page's tests in headless Chromium, the page's build,
# and the built page driven end to end through WebDriver.
# The tests read the data sets from $NL2PY_DATA, else ../shared/data, else data/sets/
# (scripts/fetch-data.py fetches them there): the run stops at once when they are not complete.
# The tests need what they check: `eval --run`'s sandbox tests fail on a machine whose kernel
# refuses namespaces or lacks Landlock (V6, Linux 6.12), the 8-bit products' test on a processor
# without AVX2, each naming what is missing. On such a machine, set NL2PY_SANDBOX_UNCHECKED=1 or
# NL2PY_AVX2_UNCHECKED=1 (to anything): the tests of what is missing then check nothing, and the
# summary at the end says so.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v python3 >/dev/null || { echo "python3 is needed: it is the tokenizer oracle in the tests" >&2; exit 1; }
# Before anything is built: every data set there, every file's SHA-256 as data/sets.toml says.
NL2PY_DATA=$(scripts/fetch-data.py --where)
export NL2PY_DATA
scripts/fetch-data.py --verify "$NL2PY_DATA"

# Each step's minutes, printed at the end (also when a step fails), for the CI time budget.
timings=() current="" step_started=$SECONDS
end_step() { [[ -n $current ]] && timings+=("$(printf '%4d:%02d  %s' $(((SECONDS - step_started) / 60)) $(((SECONDS - step_started) % 60)) "$current")"); current=""; }
report() {
    end_step
    echo; echo "== time per step (min:s)"
    printf '%s\n' "${timings[@]}"
    printf '%4d:%02d  total\n' $((SECONDS / 60)) $((SECONDS % 60))
    if [[ -n ${NL2PY_SANDBOX_UNCHECKED+set} ]]; then
        echo "NOT CHECKED: the sandbox's guards this machine lacks (namespaces, Landlock): NL2PY_SANDBOX_UNCHECKED is set"
    fi
    if [[ -n ${NL2PY_AVX2_UNCHECKED+set} ]]; then
        echo "NOT CHECKED: the AVX2 products, where the processor lacks AVX2: NL2PY_AVX2_UNCHECKED is set"
    fi
}
trap report EXIT
step() { end_step; current="$*" step_started=$SECONDS; echo; echo "== $*"; }

step "tools (scripts/setup.sh --browser)"
scripts/setup.sh --browser

step "native tests (core and CLI; the model on wgpu over Mesa's software Vulkan)"
# One build for all: with `wgpu` on for every test, Burn is not built a second time for
# tests/wgpu_native.rs alone.
cargo test --release --features wgpu
step "the data sets' fetch (loopback server) and manifest"
python3 -m unittest tests/fetch_data.py
step "lints"
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
cargo clippy -p nl2py-web -p nl2py-worker --target wasm32-unknown-unknown --all-targets -- -D warnings  # the page's build
cargo clippy -p nl2py-web -p nl2py-worker --target wasm32-unknown-unknown --all-targets \
    --features nl2py-web/webgpu,nl2py-worker/python -- -D warnings  # the workers'
step "the page's engine in headless Chromium (CPU and WebGPU)"
# WebGPU on SwiftShader compiles its shaders on the CPU: a test can take a minute. With `webgpu`,
# the tests also build the model the WebGPU worker builds, in the page.
CHROMEDRIVER=$(command -v chromedriver) WASM_BINDGEN_TEST_TIMEOUT=300 cargo test --release -p nl2py-web --target wasm32-unknown-unknown --features webgpu
step "the page, built and driven end to end"
trunk build --release
# A user's path (docs/own-pairs.md): their pairs indexed into the shipped bundle, the page shipped
# with it; tests/page.rs opens it under a sub-path.
mkdir -p target/own-pairs
target/release/nl2py index --pairs examples/pairs.jsonl --out target/own-pairs/mine.nl2py
scripts/ship.sh target/own-pairs/mine.nl2py target/own-pairs/site
cargo test --release --features wgpu --test page -- --ignored  # the features of the first step: no rebuild
echo "all tests passed"
