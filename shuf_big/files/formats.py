"""The compression formats and the file name endings that stand for them: plain names,
importing nothing, so that the command's ``--decompress`` choices come from here without
loading a codec."""

from __future__ import annotations

FORMATS = ("gzip", "bz2", "xz", "zstd")

# File name endings and the compression formats they stand for.
EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".lzma": "xz", ".zst": "zstd", ".zstd": "zstd"}
