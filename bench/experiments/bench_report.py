"""Loads tandem bench reports (`tandem bench serve --out`, `tandem simulate --out`) for the scripts beside it, plain or
gzipped. A raw report holds every request's token times (megabytes), so committed ones are stored as NAME.json.gz:
a script asks for NAME.json and gets NAME.json.gz when only that exists, and a file is decompressed when it starts with
gzip's magic bytes, whatever its name says (as `tandem bench plot` does).

    import bench_report                       # the script's own folder is on sys.path when it runs
    report = bench_report.load("out/chunked.json")
"""
import gzip
import json
import os
import re

GZIP_MAGIC = b"\x1f\x8b"


def find(path):
    """PATH when it exists, else PATH.gz when that exists, else None."""
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            return candidate
    return None


def load(path):
    """The report at PATH (or PATH.gz) as parsed JSON; FileNotFoundError when neither exists."""
    found = find(path)
    if found is None:
        raise FileNotFoundError(f"report not found: {path} (nor {path}.gz)")
    with open(found, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    with (gzip.open if gzipped else open)(found, "rt", encoding="utf-8") as f:
        return json.load(f)


def load_if_present(path):
    """As load, but None when neither PATH nor PATH.gz exists (a run that was skipped or failed)."""
    return load(path) if find(path) else None


def names(directory, pattern=r".+"):
    """The NAME of every NAME.json or NAME.json.gz in DIRECTORY whose NAME matches PATTERN, sorted, each once."""
    found = set()
    for entry in os.listdir(directory):
        m = re.fullmatch(rf"({pattern})\.json(?:\.gz)?", entry)
        if m:
            found.add(m.group(1))
    return sorted(found)
