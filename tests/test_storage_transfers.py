"""Object storage transfers that go wrong mid-object: a connection that drops in the middle
of a body is resumed where it broke, and one that stalls shows on the bar as stalled."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import ShufBig
from hypothesis import given
from hypothesis import strategies as st
from test_object_storage import SEED, big, local_shuffle

pytest.importorskip("s3fs")


def test_a_connection_dropped_mid_object_is_resumed_with_the_same_bytes(
    s3_sb: ShufBig, s3: Any, tmp_path: Path
) -> None:
    from servers import fault_proxy

    bucket = s3.bucket()
    s3.put(bucket, "big.txt", big())
    with fault_proxy(s3.endpoint, every=0, cut="reset") as (endpoint, proxy):
        s3_sb.env["AWS_ENDPOINT_URL"] = endpoint
        done = s3_sb.run(f"s3://{bucket}/big.txt", "--mem", "64M", "--seed", SEED)
        assert done.returncode == 0, done.stderr
        assert proxy.cuts == 1
    assert done.stdout == local_shuffle(s3_sb, tmp_path, big(), args=("--mem", "64M"))


def _read_until(master: int, wanted: bytes, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """What the terminal shows, read until ``wanted`` is in it, ``proc`` ends or ``timeout``."""
    shown = b""
    deadline = time.monotonic() + timeout
    while wanted not in shown and proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                shown += os.read(master, 65536)
            except OSError:  # EIO: the other end is closed
                break
    return shown


def test_a_stalled_download_shows_on_the_bar_as_stalled_not_frozen(s3_sb: ShufBig, s3: Any, tmp_path: Path) -> None:
    """The body stops after its first MiB: the bar keeps redrawing, its input rate falls and
    it says how long nothing has moved; once the body flows again the run ends as usual."""
    from servers import fault_proxy

    bucket = s3.bucket()
    s3.put(bucket, "big.txt", big())
    out = tmp_path / "out.txt"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    with fault_proxy(s3.endpoint, every=0, cut="hold") as (endpoint, proxy):
        s3_sb.env["AWS_ENDPOINT_URL"] = endpoint
        proc = s3_sb.popen(f"s3://{bucket}/big.txt", "--mem", "64M", "--seed", SEED, "-o", out, stderr=slave)
        try:
            shown = _read_until(master, b"stalled", proc, timeout=60)
            assert b"stalled" in shown, shown[-2000:]
            assert proc.poll() is None  # still waiting for the body, not failed
            proxy.released.set()
            assert proc.wait(timeout=120) == 0
        finally:
            proc.kill()
            os.close(slave)
            shown += _read_until(master, b"\0", proc, timeout=5)
            os.close(master)
    units = {b"": 1, b"K": 1 << 10, b"M": 1 << 20}
    rates = [float(r) * units[u] for r, u in re.findall(rb"in [0-9.]+[KM]iB at ([0-9.]+)([KM]?)i?B/s", shown)]
    assert rates and rates[-1] < max(rates), shown[-2000:]  # the bytes before the stall, at a falling rate
    assert out.read_bytes() == local_shuffle(s3_sb, tmp_path, big(), args=("--mem", "64M"))


@given(base=st.integers(0, 64 << 20), expected=st.integers(0, 5 << 40))
def test_parts_sized_from_the_expected_size_hold_it_in_10000_parts(base: int, expected: int) -> None:
    """An object of up to 5 TiB (S3's largest) fits S3's 10,000 parts, even a fifth larger
    than expected; no part is under S3's 5 MiB (but the last) or over its 5 GiB."""
    from shuf_big.storage.writing import MAX_PARTS, MIN_PART, part_size

    sizes = [part_size(base, expected, n) for n in range(1, MAX_PARTS + 1)]
    assert sum(sizes) >= expected * 6 // 5
    assert min(sizes) >= MIN_PART and max(sizes) <= 5 << 30


def test_sharded_uploads_are_told_their_share_of_the_real_bytes(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressed input's size is guessed (10x its bytes on disk), stdin's is unknown: pass 2
    tells every shard's upload its share of the bytes pass 1 counted, before its first part,
    so a shard of any size gets parts large enough for S3's 10,000."""
    from shuf_big.files.shards import ShardedOutput
    from shuf_big.storage.store import Store

    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    bucket = s3.bucket()
    out = ShardedOutput.from_pattern(f"s3://{bucket}/t-{{shard}}.txt", 4, b"\n", store=Store(), expected=None)
    out.open()
    out.expect(1000, 40 << 40)  # 1,000 records of 40 TiB in all
    assert [o.expected for o in out.outputs] == [10 << 40] * 4  # type: ignore[attr-defined]
    assert out.outputs[0].upload.expected == 10 << 40  # type: ignore[attr-defined]
    out.discard()
    assert s3.uploads(bucket) == [] and s3.keys(bucket) == []
