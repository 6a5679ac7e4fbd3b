"""trunk's post_build hook (Trunk.toml): finishes the page in trunk's staging folder.

- model/manifest.json: each bundle's SHA-256 and size, so that the page replaces a cached model
  that changed (web/src/bundle_cache.rs).
- sw.js: the service worker gets the list of the page's own files (everything but the models and
  itself) and a version that changes with their contents (web/sw.js).
- index.html: the Content-Security-Policy's 'inline-scripts' placeholder becomes the SHA-256 of
  each inline script trunk wrote (its start-up script), so that no other inline script runs.
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


def write_service_worker() -> None:
    worker = site / "sw.js"
    files = sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*")
        if p.is_file() and p != worker and p.relative_to(site).parts[0] != "model"
    )
    version = hashlib.sha256("".join(f + sha256(site / f) for f in files).encode()).hexdigest()[:16]
    source = worker.read_text()
    for placeholder in ("/* FILES */", "/* VERSION */"):
        if placeholder not in source:
            sys.exit(f"post_build: sw.js lacks {placeholder}")
    source = source.replace("/* FILES */", ", ".join(json.dumps("./" + f) for f in files))
    worker.write_text(source.replace("/* VERSION */", version))


write_manifest()
hash_inline_scripts()  # before the worker lists index.html: its version covers the final page
write_service_worker()
