"""What a job uses that not every engine can do, and the one refusal of it.

Each engine declares the features it ``supports`` and a ``refusal`` (``"--engine dask cannot
be combined with {option}"``); :func:`refuse` names the first feature a job uses that its
engine lacks, in this table's order, before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shuf_big.errors import ShufBigError
from shuf_big.options.declared import BY_NAME

if TYPE_CHECKING:
    from shuf_big.job import Engine, Job


@dataclass(frozen=True)
class Feature:
    """``name`` is what engines list; ``spelled`` how the refusal names it; ``message`` a
    refusal of its own, whatever the engine."""

    name: str
    used: Callable[[Job], bool]
    spelled: str = ""
    message: str = ""

    @property
    def words(self) -> str:
        return self.spelled or str(BY_NAME[self.name].spelled)


FEATURES: tuple[Feature, ...] = (
    Feature("head_count", lambda job: job.head_count is not None),
    Feature("echo", lambda job: job.echo is not None),
    Feature("input_range", lambda job: job.input_range is not None),
    Feature("repeat", lambda job: job.repeat),
    Feature("record_separator", lambda job: job.sep.token not in (b"\n", b"\0") or job.sep.paragraphs),
    Feature("header", lambda job: job.header != 0),
    Feature("shards", lambda job: job.shards is not None),
    Feature("aligned", lambda job: job.aligned),
    Feature("paragraphs", lambda job: job.sep.paragraphs, spelled=f"{BY_NAME['record_separator'].spelled} ''"),
    Feature("decompress", lambda job: job.decompress is not None),
    Feature(
        "cluster",
        lambda job: job.scheduler is not None or job.temp_url is not None,
        message=f"{BY_NAME['scheduler'].spelled} and {BY_NAME['temp_url'].spelled} need --engine dask",
    ),
)
NAMES = frozenset(feature.name for feature in FEATURES)


def refuse(job: Job, engine: Engine) -> None:
    """A one-line error naming the first feature ``job`` uses that ``engine`` does not support."""
    for feature in FEATURES:
        if feature.name not in engine.supports and feature.used(job):
            raise ShufBigError(feature.message or engine.refusal.format(option=feature.words))
