"""End-to-end tests of scripts/fetch-data.py without the internet: fixture sets served from a
loopback HTTP server; and the real manifest against the shared data and the docs.

    python3 -m unittest tests/fetch_data.py        (scripts/test.sh runs it)
"""

import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "fetch-data.py"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def run(*args, env=None):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


class Server:
    """Serves `files` ({url path: bytes}) on 127.0.0.1 and counts the requests."""

    def __init__(self, files):
        self.files, self.requests = files, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body if body is not None else b"not found")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def archive(members):
    """A .tar.gz shaped like GitHub's: everything under one `repo-commit/` folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"repo-0123abc/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FetchOverLoopback(unittest.TestCase):
    PAIRS = b'[{"intent": "add one", "snippet": "x + 1"}]\n'
    NOTES = b"# notes\nprint(1)\n"
    TREE = {"LICENSE": b"MIT\n", "pkg/a.py": b"def a():\n    return 1\n"}

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        tar = archive({**self.TREE, "pkg/unlisted.png": b"\x89PNG"})
        self.server = Server({"/pairs.json": self.PAIRS, "/notes.txt": self.NOTES, "/repo.tar.gz": tar})
        self.addCleanup(self.server.close)
        self.out = self.tmp / "sets"

    def manifest(self, pairs_sha=None, notes_url="/notes.txt", tree=None):
        listing = "".join(f"{sha256(data)}  {name}\n" for name, data in (tree or self.TREE).items())
        (self.tmp / "tree.sha256").write_text(listing)
        url = self.server.url
        text = f"""
[[set]]
name = "pairs"
title = "Pairs"
source = "{url}/"
licence = "CC0"
indexed = true
use = "tests"
files = [
    {{ name = "pairs.json", url = "{url}/pairs.json", sha256 = "{pairs_sha or sha256(self.PAIRS)}" }},
    {{ name = "notes.txt", url = "{url}{notes_url}", sha256 = "{sha256(self.NOTES)}" }},
]

[[set]]
name = "tree"
title = "Tree"
source = "{url}/"
licence = "MIT"
indexed = false
use = "tests"
archive = {{ folder = "tree", url = "{url}/repo.tar.gz", listing = "tree.sha256", listing_sha256 = "{sha256(listing.encode())}" }}
"""
        path = self.tmp / "sets.toml"
        path.write_text(text)
        return path

    def test_fetches_verifies_then_skips_what_is_there(self):
        manifest = self.manifest()
        result = run(self.out, "--manifest", manifest)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual((self.out / "pairs.json").read_bytes(), self.PAIRS)
        self.assertEqual((self.out / "notes.txt").read_bytes(), self.NOTES)
        self.assertEqual((self.out / "tree/pkg/a.py").read_bytes(), self.TREE["pkg/a.py"])
        self.assertEqual((self.out / "tree/LICENSE").read_bytes(), b"MIT\n")
        self.assertFalse((self.out / "tree/pkg/unlisted.png").exists(), "only listed files are kept")
        self.assertIn("pairs: fetched and verified (2 files)", result.stdout)
        self.assertIn("tree: fetched and verified (2 files)", result.stdout)
        self.assertEqual(len(self.server.requests), 3)

        again = run(self.out, "--manifest", manifest)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("pairs: present and verified (2 files), skipped", again.stdout)
        self.assertIn("tree: present and verified (2 files), skipped", again.stdout)
        self.assertEqual(len(self.server.requests), 3, "nothing fetched a second time")
        self.assertEqual(run("--verify", self.out, "--manifest", manifest).returncode, 0)

    def test_a_file_whose_hash_differs_is_refused_and_not_written(self):
        wrong = "0" * 64
        result = run(self.out, "--manifest", self.manifest(pairs_sha=wrong))
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"SHA-256 {sha256(self.PAIRS)}, the manifest says {wrong}", result.stderr)
        self.assertIn("pairs.json", result.stderr)
        self.assertFalse((self.out / "pairs.json").exists())
        self.assertIn("tree: fetched and verified", result.stdout, "the other sets still come")

    def test_a_changed_file_on_disk_is_fetched_again(self):
        manifest = self.manifest()
        self.assertEqual(run(self.out, "--manifest", manifest).returncode, 0)
        (self.out / "tree/pkg/a.py").write_text("tampered\n")
        self.assertEqual(run("--verify", self.out, "--manifest", manifest).returncode, 1)
        result = run(self.out, "--manifest", manifest)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("tree: fetched and verified", result.stdout)
        self.assertEqual((self.out / "tree/pkg/a.py").read_bytes(), self.TREE["pkg/a.py"])

    def test_an_archive_that_differs_from_its_listing_writes_nothing(self):
        tree = {**self.TREE, "pkg/a.py": b"def a():\n    return 2\n"}
        result = run(self.out, "--manifest", self.manifest(tree=tree))
        self.assertEqual(result.returncode, 1)
        self.assertIn("1 files differ from the listing (first: pkg/a.py", result.stderr)
        self.assertFalse((self.out / "tree").exists())
        self.assertIn("tree: tree/LICENSE: missing", result.stderr)

    def test_a_missing_file_is_reported_with_what_is_missing(self):
        result = run(self.out, "--manifest", self.manifest(notes_url="/gone.txt"))
        self.assertEqual(result.returncode, 1)
        self.assertIn("/gone.txt: HTTP 404", result.stderr)
        self.assertIn("1 of 2 data sets are not in", result.stderr)
        self.assertIn("pairs: notes.txt: missing", result.stderr)

    def test_no_network_says_so_and_lists_every_missing_set(self):
        manifest = self.manifest()
        self.server.close()
        result = run(self.out, "--manifest", manifest)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no network, or the address cannot be reached", result.stderr)
        self.assertIn("2 of 2 data sets are not in", result.stderr)
        self.assertIn("tree: tree/pkg/a.py: missing", result.stderr)

    def test_an_edited_listing_is_refused(self):
        manifest = self.manifest()
        with open(self.tmp / "tree.sha256", "a") as listing:
            listing.write(f"{'1' * 64}  pkg/extra.py\n")
        result = run(self.out, "--manifest", manifest)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("is not the manifest's", result.stderr)
        self.assertEqual(self.server.requests, [])


class TheRealManifest(unittest.TestCase):
    def test_its_hashes_are_the_shared_data_files(self):
        """Every file the manifest lists equals the one in the shared data folder, if it is here."""
        shared = Path(os.environ.get("NL2PY_DATA") or ROOT.parent / "shared" / "data")
        if not shared.is_dir():
            self.skipTest(f"no shared data at {shared}")
        result = run("--verify", shared)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_data_doc_and_model_card_hold_its_table(self):
        table = run("--table")
        self.assertEqual(table.returncode, 0, table.stderr)
        for doc in ["docs/data.md", "MODEL.md"]:
            self.assertTrue(table.stdout.strip() in (ROOT / doc).read_text(),
                            f"{doc}'s data sets table differs from `scripts/fetch-data.py --table`")

    def test_where_follows_nl2py_data_then_shared_then_data_sets(self):
        self.assertEqual(run("--where", env={"NL2PY_DATA": "/some/where"}).stdout.strip(), "/some/where")
        fallback = run("--where", env={"NL2PY_DATA": ""}).stdout.strip()
        shared = ROOT.parent / "shared" / "data"
        self.assertEqual(Path(fallback), shared if shared.is_dir() else ROOT / "data" / "sets")


if __name__ == "__main__":
    unittest.main()
