"""The peers run.py measures shuf-big against besides GNU shuf: terashuf and DuckDB.

* **terashuf** (https://github.com/alexandres/terashuf, C++): the best-known external line
  shuffler.  run.py uses the binary given with ``--terashuf PATH``, else ``terashuf`` on
  ``PATH``; without one its columns are left out.  It runs as
  ``MEMORY=GB SEED=1 TMPDIR=DIR terashuf < IN > OUT`` with ``MEMORY`` the same budget as
  shuf-big's ``--mem`` (in GiB: 256M is 0.25).  Its real peak is about twice ``MEMORY`` on
  short lines (its per-line index is not counted in ``MEMORY``).
* **DuckDB** ``ORDER BY random()`` under the same memory limit, what a data engineer might
  reach for instead: an optional column when the ``duckdb`` package is importable.  It
  refuses input that is not valid UTF-8, so a corpus that is not is cleaned first
  (``iconv -f utf-8 -t utf-8 -c``: invalid bytes dropped) and DuckDB shuffles the cleaned
  copy; and its output is not reproducible (``random()`` has no seed that survives threads).

Run as ``python -m benchmarks.peers``, this module is the DuckDB run itself (a child
process, so run.py measures its memory and time like any other command)::

    python -m benchmarks.peers duckdb IN OUT --mem 256M --threads 2 --temp DIR
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

GiB = 1 << 30
# terashuf's SEED is a C int read with strtol.
TERASHUF_SEED = 1


def find_terashuf(explicit: str | None) -> str | None:
    """The terashuf binary: ``--terashuf PATH`` (which must exist), else ``terashuf`` on PATH."""
    if explicit:
        path = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if path is None:
            raise SystemExit(f"run.py: --terashuf {explicit}: no such program")
        return str(Path(path).resolve())
    return shutil.which("terashuf")


def terashuf_env(base: dict[str, str], mem_bytes: int, temp_dir: Path) -> dict[str, str]:
    """terashuf's settings: ``MEMORY`` in GiB (as its source reads it: ``memory * 1024^3`` bytes)."""
    return dict(base, MEMORY=f"{mem_bytes / GiB:.6g}", SEED=str(TERASHUF_SEED), TMPDIR=str(temp_dir))


def duckdb_version() -> str | None:
    """The importable duckdb package's version, or None (then there is no DuckDB column)."""
    if importlib.util.find_spec("duckdb") is None:
        return None
    try:
        import duckdb  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return str(duckdb.__version__)


def is_valid_utf8(path: Path, chunk: int = 16 << 20) -> bool:
    """Whether the whole file decodes as UTF-8 (streamed: about 1 GB/s)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb", buffering=0) as f:
            while block := f.read(chunk):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def utf8_copy(src: Path, dst: Path) -> tuple[Path, int]:
    """``src`` itself if it is valid UTF-8, else a copy with the invalid bytes dropped
    (``iconv -c``) at ``dst``; and how many bytes were dropped."""
    if is_valid_utf8(src):
        return src, 0
    if shutil.which("iconv") is None:
        raise SystemExit("run.py: the corpus is not valid UTF-8 and iconv is missing to clean it for DuckDB")
    with dst.open("wb") as out:
        # iconv exits 1 when it dropped bytes (-c), which is what is asked here.
        result = subprocess.run(["iconv", "-f", "utf-8", "-t", "utf-8", "-c", str(src)], stdout=out)
    if result.returncode not in (0, 1):
        raise SystemExit(f"run.py: iconv failed on {src} (exit status {result.returncode})")
    return dst, src.stat().st_size - dst.stat().st_size


def duckdb_query(src: Path, dst: Path) -> str:
    """The shuffle as one COPY: every line one VARCHAR column (delimiter \\x01, no quoting)."""
    quoted_src = str(src).replace("'", "''")
    quoted_dst = str(dst).replace("'", "''")
    return (
        f"COPY (SELECT line FROM read_csv('{quoted_src}', columns={{'line': 'VARCHAR'}}, delim='\\x01', "
        "quote='', escape='', header=false, auto_detect=false) ORDER BY random()) "
        f"TO '{quoted_dst}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIM '\\x01')"
    )


def run_duckdb(src: Path, dst: Path, mem: str, threads: int, temp: Path) -> None:
    import duckdb  # type: ignore[import-not-found, unused-ignore]

    limit = mem if mem[-1:].upper() == "B" else f"{mem}B"  # DuckDB says 256MB where GNU sort says 256M
    with contextlib.closing(duckdb.connect()) as con:
        con.execute(f"SET memory_limit='{limit}'")
        con.execute(f"SET threads={int(threads)}")
        con.execute("SET preserve_insertion_order=false")
        con.execute(f"SET temp_directory='{str(temp).replace(chr(39), chr(39) * 2)}'")
        con.execute(duckdb_query(src, dst))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    duck = sub.add_parser("duckdb", help="shuffle IN into OUT with DuckDB's ORDER BY random()")
    duck.add_argument("src", type=Path)
    duck.add_argument("dst", type=Path)
    duck.add_argument("--mem", default="256M", help="memory_limit, as 256M or 256MB")
    duck.add_argument("--threads", type=int, default=2)
    duck.add_argument("--temp", type=Path, required=True, help="temp_directory")
    args = parser.parse_args(argv)
    try:
        run_duckdb(args.src, args.dst, args.mem, args.threads, args.temp)
    except Exception as err:  # one line, as the other commands print theirs
        sys.exit(f"duckdb: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")


if __name__ == "__main__":
    main()
