"""What each stage of a job costs in CPU time per item, the throughput those costs allow on this machine's
cores (the ceiling), and tables that set a job's measured speed beside both. Shared by bench_jobs.py and
bench_video.py, with the malloc setting they run under (the command line's, or `--default-malloc`).

CPU time is the process's own (every thread) plus that of the child processes it has waited for (the
ffmpeg processes that decode and encode video), so a stage's cost counts wherever it runs. The ceiling
assumes the stages could share the cores perfectly: cores / (sum of the stages' CPU seconds per item).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from argparse import ArgumentParser, Namespace
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def add_malloc_option(parser: ArgumentParser) -> None:
    """`--default-malloc`, for `set_malloc`."""
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's malloc as it comes, to measure what keeping freed memory saves"
    )


def set_malloc(args: Namespace) -> None:
    """Keep freed memory as the command line's process does, unless `--default-malloc`."""
    from posenet_onnx.commands.memory import keep_freed_memory

    if not args.default_malloc:
        keep_freed_memory()


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its waited-for children, user and system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Timing:
    """Rounds of one run: items per second (wall) and CPU milliseconds per item."""

    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(self, run: Callable[[], int]) -> None:
        """Time one call of `run` (which returns how many items it did)."""
        cpu, start = cpu_seconds(), time.perf_counter()
        count = run()
        wall, used = time.perf_counter() - start, cpu_seconds() - cpu
        self.rates.append(count / wall)
        self.cpu_ms.append(1000 * used / count)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cost(self) -> float:
        return statistics.median(self.cpu_ms)


def interleave(runs: dict[str, Callable[[], int]], rounds: int, log: Callable[[str], None] = print) -> dict[str, Timing]:
    """Each run once per round, in turn, `rounds` times; their timings."""
    timings = {name: Timing() for name in runs}
    for r in range(rounds):
        for name, run in runs.items():
            timings[name].add(run)
        log(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {t.rates[-1]:.1f}/s" for n, t in timings.items()))
    return timings


def ceiling(costs_ms: Sequence[float], cores: int) -> float:
    """Items per second that `cores` fully used allow when each item costs the sum of `costs_ms` CPU ms."""
    return cores / (sum(costs_ms) / 1000)


def ratio(timings: dict[str, Timing], run: str, base: str) -> tuple[float, float, float]:
    """The median, lowest and highest of the per-round ratios run / base (rounds measured side by side)."""
    ratios = [r / b for r, b in zip(timings[run].rates, timings[base].rates)]
    return statistics.median(ratios), min(ratios), max(ratios)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def stage_table(unit: str, stages: dict[str, float]) -> list[str]:
    """Markdown: each stage's CPU ms per item, and their sum."""
    lines = [f"| stage | CPU ms per {unit} |", "|---|---:|"]
    lines += [f"| {name} | {cost:.2f} |" for name, cost in stages.items()]
    return lines


def job_table(unit: str, rows: list[tuple[str, float, float, float | None, tuple[float, float, float] | None]]) -> list[str]:
    """Markdown: per run, the CPU ms per item it cost, its ceiling, its measured speed, and its ratios to the
    baseline (median, range over the rounds) and to its ceiling. A row is (name, CPU ms, rate, ceiling or
    None, ratio or None)."""
    lines = [
        f"| run | CPU ms per {unit} | ceiling {unit}s/s | measured {unit}s/s | / baseline (range) | / ceiling |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, cost, rate, top, versus in rows:
        base = "1" if versus is None else f"{versus[0]:.2f} ({versus[1]:.2f}-{versus[2]:.2f})"
        lines.append(
            f"| {name} | {cost:.2f} | {'-' if top is None else f'{top:.0f}'} | {rate:.1f} | {base} | "
            f"{'-' if top is None else f'{rate / top:.0%}'} |"
        )
    return lines
