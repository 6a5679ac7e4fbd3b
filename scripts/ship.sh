#!/usr/bin/env bash
# Builds the page as a static site with BUNDLE as its default model, ready to upload:
#   scripts/ship.sh BUNDLE OUT_DIR [--public-url /my-project/]
# BUNDLE is any bundle `nl2py export`, `nl2py index` or `nl2py train` wrote (checked before it
# is copied). OUT_DIR gets the page, its wasm, the service worker (which keeps the page for
# offline use), the Content-Security-Policy's script hashes and model/ (the bundle as
# model/default.nl2py with its manifest.json), as `scripts/demo.sh` serves the shipped model:
# upload everything in it. Asset paths are relative, so the site works from any folder of a host
# (`https://user.example.io/my-project/`); --public-url writes absolute ones instead.
# Needs the page's tools (scripts/setup.sh); OUT_DIR must be empty, missing, or an earlier
# ship's output (it holds .nl2py-ship), which is replaced.
set -euo pipefail
usage() { echo "usage: scripts/ship.sh BUNDLE OUT_DIR [--public-url /path/]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
bundle=$1 out=$2
shift 2
public_url=./
while [[ $# -gt 0 ]]; do
    case $1 in
        --public-url) [[ $# -ge 2 ]] || usage; public_url=$2; shift 2 ;;
        *) usage ;;
    esac
done
[[ -f $bundle ]] || { echo "ship: no bundle at $bundle" >&2; exit 1; }
# trunk empties the folder it writes to: only an empty folder, or one this script wrote (its
# marker file), is given to it.
marker=.nl2py-ship
if [[ -e $out ]]; then
    [[ -d $out && -r $out && -x $out ]] || { echo "ship: $out is not a folder this script can read" >&2; exit 1; }
    if [[ -n $(find "$out" -mindepth 1 -maxdepth 1 -print -quit) && ! -f $out/$marker ]]; then
        echo "ship: $out holds files that scripts/ship.sh did not write; give an empty or new folder" >&2
        exit 1
    fi
fi
command -v trunk >/dev/null || { echo "ship: trunk is missing: run scripts/setup.sh first" >&2; exit 1; }
bundle=$(realpath "$bundle")
out=$(realpath -m "$out")
cd "$(dirname "$0")/.."
# web/post_build.py checks the bundle and puts it in the site in place of model/default.nl2py.
NL2PY_BUNDLE=$bundle trunk build --release --dist "$out" --public-url "$public_url"
echo "written by scripts/ship.sh from $(basename "$bundle"); the next ship to this folder replaces it" > "$out/$marker"
echo "shipped $(basename "$bundle") as $out/model/default.nl2py: upload everything in $out"
