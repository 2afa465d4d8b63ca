"""``--help`` says what a user needs in the first five minutes, in words, not notation."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shuf_big.cli import cli


def _help() -> str:
    result = CliRunner().invoke(cli, ["--help"], prog_name="shuf-big", terminal_width=100)
    assert result.exit_code == 0
    return result.output


def test_usage_line_and_ranges_in_words() -> None:
    text = _help()
    assert text.splitlines()[0] == "Usage: shuf-big [OPTIONS] [FILE]..."
    assert "x>=" not in text and "[default:" not in text  # click's range and default notation
    assert "at least 16K (default 25% of the memory shuf-big may use" in " ".join(text.split())
    assert "Worker threads, at least 1" in text and "process" not in text


def test_help_covers_compression_temp_disk_abbreviations_and_exit_status() -> None:
    text = " ".join(_help().split())
    for needed in (
        "*.gz, *.bz2, *.xz (*.lzma) or *.zst are decompressed",
        "temp files in -T: they need about the input's (decompressed) size plus 2 bytes per line",
        "is of the memory shuf-big may use: the least of physical RAM, its cgroup memory limit",
        "RLIMIT_AS/RLIMIT_DATA. A larger explicit --mem is allowed, with a warning",
        "/tmp is in RAM (tmpfs), /var/tmp is used",
        "abbreviated to any unambiguous prefix",
        "Exit status: 0 success 1 any error",
        "141 killed by SIGPIPE",
        "pip install '.[dask]'",
    ):
        assert needed in text, needed


def test_zstd_message_says_decompression_or_compression(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the zstandard package, the hint works from a clone too and names the direction."""
    import shuf_big

    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails
    plain = tmp_path / "in.txt"
    plain.write_bytes(b"a\nb\n")
    (tmp_path / "in.zst").write_bytes(b"(\xb5/\xfd")
    hint = "needs the 'zstandard' package: pip install 'shuf-big[zstd]' (from a clone: pip install '.[zstd]')"
    with pytest.raises(shuf_big.ShufBigError, match=re.escape(f"zstd decompression {hint}")):
        shuf_big.shuffle(str(tmp_path / "in.zst"), str(tmp_path / "out"))
    with pytest.raises(shuf_big.ShufBigError, match=re.escape(f"zstd compression {hint}")):
        shuf_big.shuffle(str(plain), str(tmp_path / "out.zst"))
