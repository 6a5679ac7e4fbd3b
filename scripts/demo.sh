#!/usr/bin/env bash
# Sets up what the page needs (scripts/setup.sh) and serves it with the shipped model
# (model/default.nl2py) at http://127.0.0.1:8080. On a fresh machine the page's wasm builds while
# the tools install (cargo install builds in folders of its own, so the two do not wait on each
# other's lock), and trunk then finds it built. Later runs rebuild only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null
mkdir -p target
# The very builds trunk runs for index.html's three wasms (same profiles as their
# `data-cargo-profile-release` name, same targets and features): the page's and its WebGPU
# worker's (`web`), and the Python worker's (`python`, crate nl2py-worker), which shares no crate
# build with them and fills the core their single-threaded fat-LTO links leave idle.
{
    cargo build --profile web --target wasm32-unknown-unknown -p nl2py-web --bin nl2py-web &&
        cargo build --profile web --target wasm32-unknown-unknown -p nl2py-web --bin nl2py-webgpu --features webgpu
} >target/demo-page-build.log 2>&1 &
page_build=$!
cargo build --profile python --target wasm32-unknown-unknown -p nl2py-worker --bin nl2py-python --features python \
    >target/demo-python-build.log 2>&1 &
python_build=$!
# The page's build is the longer one, and its last crates build one after another: the tools
# take the cores it leaves.
nice -n 10 scripts/setup.sh
wait "$page_build" || { tail -30 target/demo-page-build.log >&2; echo "the page's build failed (target/demo-page-build.log)" >&2; exit 1; }
wait "$python_build" || { tail -30 target/demo-python-build.log >&2; echo "the Python worker's build failed (target/demo-python-build.log)" >&2; exit 1; }
exec trunk serve --release "$@"
