#!/usr/bin/env python3
"""Fetches and verifies the data sets nl2py reads, from the manifest data/sets.toml.

    scripts/fetch-data.py [DIR]        download every set missing from DIR (default data/sets/),
                                       verify each file's SHA-256, skip what is already there
    scripts/fetch-data.py --verify [DIR]
                                       check only (no network): exit 1 naming what is missing
                                       or differs; DIR defaults to the data folder (--where)
    scripts/fetch-data.py --where      print the data folder nl2py reads: $NL2PY_DATA, else
                                       ../shared/data when present, else data/sets/ (the same
                                       rule as nl2py::data::data_dir)
    scripts/fetch-data.py --table      print the data sets table (docs/data.md and MODEL.md hold it)

Single files come from their pinned URLs; folder-shaped sets come as the repository's archive
at the pinned commit, of which only the files in the set's listing are kept, each checked
against its hash. A file is written only after its hash matched, so a failed or refused
download leaves nothing behind. Python 3.11 or later (tomllib); standard library only.
"""

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python before 3.11
    sys.exit("scripts/fetch-data.py needs Python 3.11 or later (for tomllib)")

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "data" / "sets.toml"
FETCH_COMMAND = "scripts/fetch-data.py"
TIMEOUT_S = 60


def data_dir():
    """The folder nl2py reads its data sets from (nl2py::data::data_dir has the same rule)."""
    explicit = os.environ.get("NL2PY_DATA", "")
    if explicit:
        return Path(explicit)
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else ROOT / "data" / "sets"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Manifest:
    """The sets of a manifest, each with the files it should leave in the data folder."""

    def __init__(self, path):
        self.path = Path(path)
        with open(self.path, "rb") as file:
            self.sets = tomllib.load(file)["set"]
        for data_set in self.sets:
            if "archive" in data_set:
                data_set["members"] = self.listing(data_set)

    def listing(self, data_set):
        """An archive set's `{path inside the archive: sha256}`, from its checked listing."""
        archive = data_set["archive"]
        listing = self.path.parent / archive["listing"]
        text = listing.read_bytes()
        if sha256(text) != archive["listing_sha256"]:
            sys.exit(f"{listing}: its SHA-256 {sha256(text)} is not the manifest's "
                     f"{archive['listing_sha256']} (set {data_set['name']})")
        members = {}
        for number, line in enumerate(text.decode().splitlines(), 1):
            digest, _, member = line.partition("  ")
            if len(digest) != 64 or not member or member.startswith("/") or ".." in member.split("/"):
                sys.exit(f"{listing}:{number}: not a `SHA256  relative/path` line: {line!r}")
            members[member] = digest
        return members

    @staticmethod
    def expected(data_set):
        """`(path in the data folder, sha256)` of every file the set leaves there."""
        if "archive" in data_set:
            folder = data_set["archive"]["folder"]
            return [(f"{folder}/{member}", digest) for member, digest in data_set["members"].items()]
        return [(entry["name"], entry["sha256"]) for entry in data_set["files"]]


def check(data_set, folder):
    """The set's files that are missing from `folder` or differ, as messages."""
    problems = []
    for name, digest in Manifest.expected(data_set):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif (found := file_sha256(path)) != digest:
            problems.append(f"{name}: SHA-256 {found}, the manifest says {digest}")
    return problems


def download(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise FetchError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"{url}: {reason} (no network, or the address cannot be reached)") from None


class FetchError(Exception):
    pass


def write(path, data):
    """Writes `data` to `path` through a temporary file, so no half-written file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
        temporary.write(data)
    os.replace(temporary.name, path)


def fetch_files(data_set, folder):
    for entry in data_set["files"]:
        path = folder / entry["name"]
        if path.is_file() and file_sha256(path) == entry["sha256"]:
            continue
        data = download(entry["url"])
        if (found := sha256(data)) != entry["sha256"]:
            raise FetchError(f"{entry['name']} from {entry['url']}: SHA-256 {found}, the manifest "
                             f"says {entry['sha256']}; not written")
        write(path, data)


def fetch_archive(data_set, folder):
    archive = data_set["archive"]
    members = data_set["members"]
    data = download(archive["url"])
    found = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for info in tar:
                # GitHub's archives hold everything under one top folder, `repo-commit/`.
                _, _, member = info.name.partition("/")
                if info.isfile() and member in members:
                    found[member] = tar.extractfile(info).read()
    except tarfile.TarError as error:
        raise FetchError(f"{archive['url']}: not a readable archive ({error})") from None
    missing = sorted(set(members) - set(found))
    if missing:
        raise FetchError(f"{archive['url']}: {len(missing)} listed files are not in the archive "
                         f"(first: {missing[0]}); nothing written")
    differ = [(m, sha256(content)) for m, content in found.items() if sha256(content) != members[m]]
    if differ:
        member, digest = differ[0]
        raise FetchError(f"{archive['url']}: {len(differ)} files differ from the listing (first: "
                         f"{member}, SHA-256 {digest}, the listing says {members[member]}); "
                         "nothing written")
    for member, content in found.items():
        write(folder / archive["folder"] / member, content)


def fetch(manifest, folder):
    failed = []
    for data_set in manifest.sets:
        count = len(Manifest.expected(data_set))
        if not check(data_set, folder):
            print(f"{data_set['name']}: present and verified ({count} files), skipped")
            continue
        try:
            (fetch_archive if "archive" in data_set else fetch_files)(data_set, folder)
        except FetchError as error:
            print(f"{data_set['name']}: FAILED: {error}", file=sys.stderr)
            failed.append(data_set)
            continue
        print(f"{data_set['name']}: fetched and verified ({count} files)")
    if failed:
        print(f"\n{len(failed)} of {len(manifest.sets)} data sets are not in {folder}:", file=sys.stderr)
        for data_set in failed:
            for problem in check(data_set, folder):
                print(f"  {data_set['name']}: {problem}", file=sys.stderr)
        return 1
    print(f"all {len(manifest.sets)} data sets are in {folder}")
    return 0


def verify(manifest, folder):
    incomplete = [(s, check(s, folder)) for s in manifest.sets]
    incomplete = [(s, problems) for s, problems in incomplete if problems]
    if not incomplete:
        print(f"all {len(manifest.sets)} data sets are in {folder}, verified")
        return 0
    print(f"{len(incomplete)} of {len(manifest.sets)} data sets are missing from {folder} or "
          "differ:", file=sys.stderr)
    for data_set, problems in incomplete:
        count = len(Manifest.expected(data_set))
        if all(problem.endswith(": missing") for problem in problems):
            print(f"  {data_set['name']}: {len(problems)} of {count} files missing", file=sys.stderr)
            continue
        for problem in problems[:5]:
            print(f"  {data_set['name']}: {problem}", file=sys.stderr)
        if len(problems) > 5:
            print(f"  {data_set['name']}: … and {len(problems) - 5} more", file=sys.stderr)
    print(f"fetch them with `{FETCH_COMMAND}` (into data/sets/), or set NL2PY_DATA to a folder "
          "that holds them", file=sys.stderr)
    return 1


def table(manifest):
    lines = ["| data set | files | source (pinned) | licence | used for |", "|---|---|---|---|---|"]
    for s in manifest.sets:
        if "archive" in s:
            files = f"`{s['archive']['folder']}/` ({len(s['members'])} files)"
        else:
            files = ", ".join(f"`{entry['name']}`" for entry in s["files"])
        sources = " and ".join(f"[{url.split('/')[3]}/{url.split('/')[4]}]({url})"
                               for url in s["source"].split(" and "))
        lines.append(f"| {s['title']} | {files} | {sources} | {s['licence']} | {s['use']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="the data folder")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--verify", action="store_true", help="check only, no network")
    mode.add_argument("--where", action="store_true", help="print the data folder nl2py reads")
    mode.add_argument("--table", action="store_true", help="print the data sets table")
    args = parser.parse_args()
    if args.where:
        print(data_dir())
        return 0
    manifest = Manifest(args.manifest)
    if args.table:
        print(table(manifest))
        return 0
    if args.verify:
        return verify(manifest, args.dir or data_dir())
    return fetch(manifest, args.dir or ROOT / "data" / "sets")


if __name__ == "__main__":
    sys.exit(main())
