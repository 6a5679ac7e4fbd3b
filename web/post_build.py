"""trunk's post_build hook (Trunk.toml): finishes the page in trunk's staging folder.

- model/default.nl2py: the bundle $NL2PY_BUNDLE names, when set (scripts/ship.sh), checked first.
- model/manifest.json: each bundle's SHA-256 and size, so that the page replaces a cached model
  that changed (web/src/bundle_cache.rs).
- sw.js: the service worker gets the list of the page's own files (everything but the models, the
  workers' files and itself), the list of the WebGPU and Python workers' files (each kept once the
  page first starts that worker), and a version that changes with their contents (web/sw.js).
- index.html: the Content-Security-Policy's 'inline-scripts' placeholder becomes the SHA-256 of
  each inline script trunk wrote (its start-up script), so that no other inline script runs.
- The page's wasm must hold 128-bit SIMD code (functions with v128 locals), or the build fails:
  without `-C target-feature=+simd128` (.cargo/config.toml) Flex's kernels run scalar.
- Each wasm cargo linked (the page's and each worker's) must be a reactor, or the build
  fails: linked as a command (`nl2py_worker::run_main` no longer running the static constructors
  itself), every call into it re-runs cubecl's hundreds of constructors, seconds after each
  answer. wasm-ld names each wrapper it adds
  `<export>.command_export`; wasm-opt drops the names, so cargo's own output is read.
"""

import base64
import hashlib
import json
import os
import re
import sys
from pathlib import Path

site = Path(os.environ["TRUNK_STAGING_DIR"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


BUNDLE_MAGIC = b"NL2PYBND"  # src/bundle/mod.rs's MAGIC; a SHA-256 of the bytes before it ends the file


def use_bundle() -> None:
    """With $NL2PY_BUNDLE (scripts/ship.sh), that bundle becomes the site's model/default.nl2py,
    once its magic and closing checksum show it is a whole bundle."""
    given = os.environ.get("NL2PY_BUNDLE")
    if not given:
        return
    data = Path(given).read_bytes()
    if len(data) < 48 or not data.startswith(BUNDLE_MAGIC):
        sys.exit(f"post_build: {given} is not an nl2py bundle (it does not start with {BUNDLE_MAGIC.decode()})")
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        sys.exit(f"post_build: {given} is damaged or cut short (its closing SHA-256 does not match)")
    # The newest format this page reads: the core's FORMAT_VERSION, read from its source.
    source = (Path(os.environ["TRUNK_SOURCE_DIR"]) / "src" / "bundle" / "mod.rs").read_text()
    newest = int(re.search(r"pub const FORMAT_VERSION: u32 = (\d+);", source).group(1))
    version = int.from_bytes(data[8:12], "little")
    if not 1 <= version <= newest:
        sys.exit(f"post_build: {given} is a bundle of format {version}; this page reads formats 1 to {newest}")
    (site / "model" / "default.nl2py").write_bytes(data)


def write_manifest() -> None:
    bundles = sorted((site / "model").glob("*.nl2py"))
    manifest = {b.name: {"sha256": sha256(b), "bytes": b.stat().st_size} for b in bundles}
    (site / "model" / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def hash_inline_scripts() -> None:
    page = site / "index.html"
    html = page.read_text()
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)
    digests = " ".join(
        "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in inline
    )
    if "'inline-scripts'" not in html:
        sys.exit("post_build: index.html's Content-Security-Policy lacks the 'inline-scripts' placeholder")
    page.write_text(html.replace("'inline-scripts'", digests))


# The workers whose files the page fetches only when it starts them (index.html's `data-bin`):
# the WebGPU engine (on a hardware adapter) and Python (on the first Run). trunk names a worker's
# files after its binary, without a hash.
ON_DEMAND_WORKERS = ("nl2py-webgpu", "nl2py-python")


def write_service_worker() -> None:
    worker = site / "sw.js"
    files = sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*")
        if p.is_file() and p != worker and p.relative_to(site).parts[0] != "model"
    )
    on_demand = [f for f in files if f.startswith(ON_DEMAND_WORKERS)]
    for worker_name in ON_DEMAND_WORKERS:
        if not any(f.startswith(worker_name) for f in on_demand):
            sys.exit(f"post_build: trunk wrote no {worker_name}* files (a worker index.html names)")
    version = hashlib.sha256("".join(f + sha256(site / f) for f in files).encode()).hexdigest()[:16]
    source = worker.read_text()
    lists = {
        "/* FILES */": [f for f in files if f not in on_demand],
        "/* ON_DEMAND */": on_demand,
    }
    for placeholder in (*lists, "/* VERSION */"):
        if placeholder not in source:
            sys.exit(f"post_build: sw.js lacks {placeholder}")
    for placeholder, listed in lists.items():
        source = source.replace(placeholder, ", ".join(json.dumps("./" + f) for f in listed))
    worker.write_text(source.replace("/* VERSION */", version))


def uleb128(data: bytes, at: int) -> tuple[int, int]:
    """The unsigned LEB128 number at `at`, and where the next field starts."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def functions_with_v128_locals(wasm: bytes) -> int:
    """Counts the code section's function bodies that declare a local of type v128 (0x7B)."""
    at, found = 8, 0  # after the magic and version
    while at < len(wasm):
        section = wasm[at]
        size, at = uleb128(wasm, at + 1)
        if section == 10:  # code: count, then per body its size and its local declarations
            bodies, body = uleb128(wasm, at)
            for _ in range(bodies):
                length, start = uleb128(wasm, body)
                declarations, field = uleb128(wasm, start)
                types = []
                for _ in range(declarations):
                    _, field = uleb128(wasm, field)  # how many locals of this type
                    types.append(wasm[field])
                    field += 1
                found += 0x7B in types
                body = start + length
        at += size
    return found


def check_simd() -> None:
    for wasm in site.glob("*.wasm"):
        if functions_with_v128_locals(wasm.read_bytes()) == 0:
            sys.exit(f"post_build: {wasm.name} has no SIMD code: build it with -C target-feature=+simd128")


def rust_binaries() -> list[tuple[str, str]]:
    """Each binary index.html has trunk build, and the cargo profile it is built with (its
    `data-cargo-profile-release`, or `-dev`, else cargo's own)."""
    release = os.environ.get("TRUNK_PROFILE") == "release"
    attribute = "data-cargo-profile-release" if release else "data-cargo-profile-dev"
    html = (Path(os.environ["TRUNK_SOURCE_DIR"]) / os.environ["TRUNK_HTML_FILE"]).read_text()
    found = []
    for link in re.findall(r'<link data-trunk rel="rust"[^>]*>', html):
        binary = re.search(r'data-bin="([^"]+)"', link)
        named = re.search(attribute + r'="([^"]+)"', link)
        profile = named.group(1) if named else ("release" if release else "debug")
        found.append((binary.group(1), "debug" if profile == "dev" else profile))
    return found


def check_reactor() -> None:
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path(os.environ["TRUNK_SOURCE_DIR"]) / "target"))
    for binary, profile in rust_binaries():
        linked = target / "wasm32-unknown-unknown" / profile / f"{binary}.wasm"
        if b".command_export" in linked.read_bytes():
            sys.exit(f"post_build: {linked} is linked as a command: main must call __wasm_call_ctors first")


check_simd()
check_reactor()
use_bundle()
write_manifest()
hash_inline_scripts()  # before the worker lists index.html: its version covers the final page
write_service_worker()
