"""No litter from Dask: the LocalCluster that ``--engine dask`` starts keeps its scratch
space (``dask-scratch-space/`` and its lock files) in a private temp dir of the run, under
``TMPDIR`` or ``-T``, and removes it with the cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import sorted_records, wait_until, words

pytest.importorskip("distributed")


def test_local_cluster_scratch_space_is_inside_the_run_and_removed(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = tmp_path / "in.txt"
    src.write_bytes(words(20_000, 3))
    out = tmp_path / "out.txt"
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [*shuf_big_cmd, "--engine", "dask", "-j", "1", "--mem", "256K", "-o", str(out), str(src)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(proc, lambda: any(tmp.glob("shuf-big-*/dask-scratch-space")), "the cluster's scratch space")
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert sorted_records(out.read_bytes()) == sorted_records(src.read_bytes())
    assert os.listdir(tmp) == []  # no dask-scratch-space, no run directory
