#!/usr/bin/env bash
# Writes docs/screenshot.png, the README's picture of the page, from the built page in headless
# Chromium (examples/screenshot.rs, through the page test's WebDriver helpers). Builds dist/ first
# when it is missing; needs the page's tools and the browser (scripts/setup.sh --browser).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f dist/index.html ]] || trunk build --release
# The features of scripts/test.sh's native step: nothing is built a second time.
cargo run --release --features wgpu --example screenshot -- "${1:-docs/screenshot.png}"
