"""The one place rich is used: a console on stderr and progress bars for long work.

On a terminal the bar is live; in a log file (Snakemake rules) a plain line is written
every `LOG_EVERY_S` seconds instead, so logs show progress too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
LOG_EVERY_S = 15.0


@contextmanager
def progress(description: str, total: int) -> Iterator:
    """Yield `advance(n=1, info=None)`; shows count, elapsed and remaining time."""
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=console, transient=False, refresh_per_second=2, disable=not console.is_terminal,
    )
    state = {"done": 0, "last": time.monotonic(), "start": time.monotonic()}
    with bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str | None = None) -> None:
            bar.update(task, advance=n, **({"info": info} if info is not None else {}))
            state["done"] += n
            now = time.monotonic()
            if not console.is_terminal and (now - state["last"] >= LOG_EVERY_S or state["done"] >= total):
                state["last"] = now
                console.log(f"{description}: {state['done']}/{total} ({now - state['start']:.0f}s) {info or ''}")

        yield advance


def log(message: str) -> None:
    console.log(message)
