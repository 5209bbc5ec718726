"""A job over a set of images that can run in one process or in many (restore and score are such jobs).

A job's work is a list of items, each a fixed batch of image stems (`global_batches`: the sorted stems cut into
batches of `batch_size`, the same cut whatever the number of processes, so an image is always processed beside the
same images). The driver:

1. `plan()` on global rank 0 only, once every process exists: checks, the work folder, the items still to do;
2. `start(rank, device, shared)` on every rank (load the models), then rank r processes items[r::world] with
   `process(item)` and writes the result with `write(item, result)` into files only that rank writes;
3. `finish(seconds)` on rank 0 once every rank is done: merge the ranks' files into the final outputs.

bfrbench.engine.runner drives it: one process runs a plain loop (no Lightning import), more run under Lightning's
`Trainer.predict` (bfrbench.engine.lightning_job) with a prediction writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass
class Plan:
    items: list[Any]
    shared: dict[str, Any] = field(default_factory=dict)  # what every rank needs besides its items (picklable)


class ShardedJob(Protocol):
    def plan(self) -> Plan: ...

    def start(self, rank: int, device: str, shared: dict[str, Any]) -> None: ...

    def process(self, item: Any) -> Any: ...

    def write(self, item: Any, result: Any) -> None: ...

    def finish(self, seconds: float) -> Any: ...

    def describe(self, item: Any) -> int:
        """How many images an item holds (for the progress bar)."""
        ...


def global_batches(stems: Sequence[T], batch_size: int) -> list[list[T]]:
    """The set cut into batches in sorted order: independent of the process count and of what is already done."""
    if batch_size < 1:
        from bfrbench.errors import ConfigError

        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    return [list(stems[i : i + batch_size]) for i in range(0, len(stems), batch_size)]


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Rank r's items: every world-th one from r, so ranks get equal shares of a set sorted by stem."""
    return list(items[rank::world])
