"""Memory that is really available: ``--mem N%`` and the default budget are shares of the least
of physical RAM, the cgroup memory limit (v1 or v2, the tightest ancestor) and the address
space / data rlimits; an explicit ``--mem`` above that draws one warning line.

The cgroup trees are fakes in ``tmp_path``, given to the real command through
``SHUF_BIG_PROC_CGROUP`` and ``SHUF_BIG_CGROUP_ROOT``; the rlimits are real ones, set in the
child before it starts.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import numbered_rows

import shuf_big
from shuf_big.budget.memory import CGROUP_ROOT_ENV, PROC_CGROUP_ENV, available_memory, cgroup_limit, physical_memory
from shuf_big.errors import MemoryLimitWarning

GiB = 1 << 30
V1_UNLIMITED = "9223372036854771712"  # what cgroup v1 writes for "no limit" (4 KiB pages)
ROWS = numbered_rows(0, 20_000)  # 160 KB: in memory at 25% of RAM, external at 25% of 1 MiB


def cgroup_tree(root: Path, proc: str, limits: dict[str, str], controllers: bool = True) -> tuple[str, str]:
    """A fake ``/proc/self/cgroup`` (``proc``) and cgroup mount under ``root``: ``limits``
    maps a file path below the mount (``memory/a/b/memory.limit_in_bytes``) to its text."""
    root.mkdir(exist_ok=True)
    if controllers:  # a cgroup2 mount's root has cgroup.controllers
        (root / "cgroup.controllers").write_text("cpu memory pids\n")
    for name, text in limits.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    listing = root / "proc-self-cgroup"
    listing.write_text(proc)
    return str(listing), str(root)


def test_v2_unlimited_everywhere_leaves_physical_memory(tmp_path: Path) -> None:
    proc, root = cgroup_tree(tmp_path / "cg", "0::/user.slice/job\n", {"user.slice/memory.max": "max"})
    (tmp_path / "cg" / "user.slice" / "job").mkdir()
    (tmp_path / "cg" / "user.slice" / "job" / "memory.max").write_text("max\n")
    assert cgroup_limit(proc, root) is None
    limit = available_memory(proc, root)
    assert limit.nbytes <= physical_memory()
    assert limit.source in ("physical memory", "RLIMIT_AS", "RLIMIT_DATA")


@pytest.mark.parametrize(
    ("parent", "child", "expected", "tightest"),
    [
        ("2147483648", "max", 2 * GiB, "kubepods/memory.max"),
        ("4294967296", "1073741824", GiB, "kubepods/pod1/memory.max"),
    ],
    ids=["parent-limits", "child-tighter"],
)
def test_v2_the_tightest_ancestor_wins(tmp_path: Path, parent: str, child: str, expected: int, tightest: str) -> None:
    proc, root = cgroup_tree(
        tmp_path / "cg",
        "0::/kubepods/pod1\n",
        {"memory.max": "max", "kubepods/memory.max": parent, "kubepods/pod1/memory.max": child},
    )
    found = cgroup_limit(proc, root)
    assert found is not None
    assert found.nbytes == expected
    assert found.source == f"cgroup limit in {root}/{tightest}"


def test_v1_sentinel_means_unlimited_and_a_limited_ancestor_wins(tmp_path: Path) -> None:
    proc, root = cgroup_tree(
        tmp_path / "cg",
        "12:pids:/slurm/uid_0/job_7\n4:memory:/slurm/uid_0/job_7\n1:name=systemd:/\n",
        {
            "memory/memory.limit_in_bytes": V1_UNLIMITED,
            "memory/slurm/memory.limit_in_bytes": V1_UNLIMITED,
            "memory/slurm/uid_0/memory.limit_in_bytes": "3221225472",
            "memory/slurm/uid_0/job_7/memory.limit_in_bytes": V1_UNLIMITED,
        },
        controllers=False,
    )
    found = cgroup_limit(proc, root)
    assert found is not None and found.nbytes == 3 * GiB
    assert found.source.endswith("memory/slurm/uid_0/memory.limit_in_bytes")
    Path(root, "memory/slurm/uid_0/memory.limit_in_bytes").write_text(V1_UNLIMITED + "\n")
    assert cgroup_limit(proc, root) is None


def test_v1_in_a_container_that_mounts_only_its_own_cgroup(tmp_path: Path) -> None:
    """Without a cgroup namespace the path says /docker/ID, but the mount's root is that cgroup."""
    proc, root = cgroup_tree(
        tmp_path / "cg",
        "4:memory:/docker/0123abcd\n",
        {"memory/memory.limit_in_bytes": str(512 << 20)},
        controllers=False,
    )
    found = cgroup_limit(proc, root)
    assert found is not None and found.nbytes == 512 << 20


def test_hybrid_v1_memory_controller_beside_an_empty_unified_tree(tmp_path: Path) -> None:
    proc, root = cgroup_tree(
        tmp_path / "cg",
        "4:memory:/job\n0::/job\n",
        {"memory/job/memory.limit_in_bytes": str(GiB), "unified/cgroup.controllers": ""},
        controllers=False,
    )
    (tmp_path / "cg" / "unified" / "job").mkdir()
    found = cgroup_limit(proc, root)
    assert found is not None and found.nbytes == GiB


def test_no_cgroup_filesystem_is_no_limit(tmp_path: Path) -> None:
    assert cgroup_limit(str(tmp_path / "missing"), str(tmp_path)) is None
    assert available_memory(str(tmp_path / "missing"), str(tmp_path)).nbytes <= physical_memory()


# -- rlimits, real ones, in a child ---------------------------------------------------------


def _soft_limit(which: int, value: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(which, (value, resource.getrlimit(which)[1]))

    return apply


@pytest.mark.parametrize("name", ["RLIMIT_AS", "RLIMIT_DATA"])
def test_an_rlimit_below_ram_is_the_base(name: str) -> None:
    if physical_memory() <= 3 * GiB:
        pytest.skip("needs more than 3 GiB of RAM")
    code = "from shuf_big.budget.memory import available_memory as a; m = a(); print(m.nbytes, m.source)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        check=True,
        preexec_fn=_soft_limit(getattr(resource, name), 3 * GiB),
    )
    assert proc.stdout.decode().split() == [str(3 * GiB), name]


def test_the_default_budget_follows_an_rlimit(shuf_big_cmd: list[str], tmp_path: Path) -> None:
    if physical_memory() <= 3 * GiB:
        pytest.skip("needs more than 3 GiB of RAM")
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    limited = _soft_limit(resource.RLIMIT_AS, 3 * GiB)
    proc = subprocess.run([*shuf_big_cmd, "-v", src], capture_output=True, check=True, preexec_fn=limited)
    assert "--mem 768.0 MiB" in proc.stderr.decode()  # 25% of 3 GiB
    over = subprocess.run([*shuf_big_cmd, "--mem", "4G", src], capture_output=True, check=True, preexec_fn=limited)
    assert over.stderr.decode() == (
        "shuf-big: warning: --mem 4.0 GiB is more than the 3.0 GiB this process may use (RLIMIT_AS): "
        "the run may be killed\n"
    )
    assert sorted(over.stdout.splitlines()) == sorted(ROWS.splitlines())


# -- the command under a fake cgroup limit -----------------------------------------------------


@pytest.fixture
def one_mib_pod(tmp_path: Path) -> dict[str, str]:
    """The environment of a process in a cgroup v2 limited to 1 MiB (a pod's limit, in small)."""
    proc, root = cgroup_tree(tmp_path / "cg", "0::/kubepods/pod\n", {"kubepods/pod/memory.max": str(1 << 20)})
    return {**os.environ, PROC_CGROUP_ENV: proc, CGROUP_ROOT_ENV: root}


def _report(stderr: bytes) -> dict[str, str]:
    lines = [line.removeprefix("shuf-big: ") for line in stderr.decode().splitlines()]
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_default_budget_follows_the_cgroup_limit(
    shuf_big_cmd: list[str], tmp_path: Path, one_mib_pod: dict[str, str]
) -> None:
    """In memory under the machine's RAM; through temp files under a 1 MiB limit; same bytes."""
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    run = [*shuf_big_cmd, "-v", "--seed", "5", "-T", tmp_path, src]
    free = subprocess.run(run, capture_output=True, check=True)
    pod = subprocess.run(run, capture_output=True, check=True, env=one_mib_pod)
    assert _report(free.stderr)["path"] == "in memory, 0 B of temp files"
    assert _report(pod.stderr)["path"].startswith("external (")
    assert _report(pod.stderr)["memory"].endswith("peak RSS, --mem 256.0 KiB")  # 25% of 1 MiB
    assert pod.stdout == free.stdout
    half = subprocess.run([*run, "--mem", "50%"], capture_output=True, check=True, env=one_mib_pod)
    assert _report(half.stderr)["memory"].endswith("--mem 512.0 KiB")
    assert half.stdout == free.stdout


def test_an_explicit_mem_above_the_limit_warns_once_and_runs(
    shuf_big_cmd: list[str], tmp_path: Path, one_mib_pod: dict[str, str]
) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    over = subprocess.run([*shuf_big_cmd, "--mem", "2M", src], capture_output=True, check=True, env=one_mib_pod)
    limit_file = Path(one_mib_pod[CGROUP_ROOT_ENV], "kubepods/pod/memory.max")
    assert over.stderr.decode() == (
        "shuf-big: warning: --mem 2.0 MiB is more than the 1.0 MiB this process may use "
        f"(cgroup limit in {limit_file}): the run may be killed\n"
    )
    assert sorted(over.stdout.splitlines()) == sorted(ROWS.splitlines())
    for mem in ("1M", "512K", "100%"):
        within = subprocess.run([*shuf_big_cmd, "--mem", mem, src], capture_output=True, check=True, env=one_mib_pod)
        assert within.stderr == b"", mem


def test_the_api_warns_with_a_python_warning(
    tmp_path: Path, one_mib_pod: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(ROWS)
    for name in (PROC_CGROUP_ENV, CGROUP_ROOT_ENV):
        monkeypatch.setenv(name, one_mib_pod[name])
    with pytest.warns(MemoryLimitWarning, match=r"--mem 4\.0 MiB is more than the 1\.0 MiB"):
        result = shuf_big.shuffle(src, tmp_path / "out", mem="4M", tmp_dirs=[tmp_path])
    assert result.mem == 4 << 20
    assert shuf_big.shuffle(src, tmp_path / "out", tmp_dirs=[tmp_path]).mem == 256 << 10
