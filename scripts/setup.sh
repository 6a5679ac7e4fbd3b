#!/usr/bin/env bash
# Installs what building and testing the web page needs, skipping what is already there:
#   - the wasm32-unknown-unknown target;
#   - wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock;
#   - trunk (built with the nightly toolchain: trunk 0.22 needs a newer rustc than stable here);
#   - with --browser, Chromium and ChromeDriver for the browser tests and Mesa's software Vulkan
#     for the native wgpu test.
#   - wasm-opt 132 from npm's binaryen package (Debian's 108 breaks wasm-bindgen's output);
# First run on a fresh machine, niced beside the page's build (demo.sh): about 17 minutes on 2
# cores, wasm-bindgen-cli and trunk building at once.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=false
[[ "${1:-}" == "--browser" ]] && browser=true

rustup target add wasm32-unknown-unknown >/dev/null

apt_packages=()
if $browser; then
    command -v chromium >/dev/null || apt_packages+=(chromium)
    command -v chromedriver >/dev/null || apt_packages+=(chromium-driver)
    [[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]] || apt_packages+=(mesa-vulkan-drivers)
fi
if ((${#apt_packages[@]})); then
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${apt_packages[@]}"
fi

# The two cargo installs build at once (each in a folder of its own), so that neither core
# waits while the other's build is down to its last crates.
installs=()
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
    # --locked fails: its lock file names a crate version the registry no longer has.
    cargo install wasm-bindgen-cli --version "$bindgen_version" &
    installs+=($!)
fi

if ! command -v trunk >/dev/null; then
    # trunk's own release profile links with fat LTO in one codegen unit; a build tool that
    # serves files and runs wasm-bindgen and wasm-opt needs neither, nor optimised code. Of its
    # default features it keeps TLS (it will not build without) and drops the update check.
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
        cargo +nightly install trunk --locked --no-default-features --features rustls &
    installs+=($!)
fi

if [[ "$(wasm-opt --version 2>/dev/null)" != *"version 132"* ]]; then
    npm install -g binaryen@132
fi

for install in ${installs[@]+"${installs[@]}"}; do
    wait "$install" || { echo "installing wasm-bindgen-cli or trunk failed (output above)" >&2; exit 1; }
done
