"""Results: one JSON file per benchmark under ``bench/results/`` and a markdown table."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Case:
    """One row of the table: a measured figure against its same-run baseline."""

    name: str
    measured: float
    baseline: float
    unit: str
    goal: str
    met: bool | None
    ratio: float | None = None
    note: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline:
            self.ratio = self.measured / self.baseline


@dataclass
class Outcome:
    """What one benchmark produced: its cases, or why it could not run."""

    benchmark: str
    cases: list[Case] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    error: str | None = None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    import sqlalchemy

    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "commit": git_commit(),
    }


def write_json(outcome: Outcome, machine: dict[str, Any], *, quick: bool) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{outcome.benchmark}.json"
    payload = {
        "benchmark": outcome.benchmark,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine,
        "settings": outcome.settings,
        "cases": [asdict(case) for case in outcome.cases],
        "skipped": outcome.skipped,
        "error": outcome.error,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def fmt_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"
    if unit == "MiB":
        return f"{value:,.1f} MiB"
    return f"{value:,.0f} {unit}"


def _met(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**no**")


def markdown_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| benchmark | measured | baseline | ratio | goal | met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for outcome in outcomes:
        for case in outcome.cases:
            measured = fmt_value(case.measured, case.unit)
            if case.note:
                measured += f" ({case.note})"
            ratio = "—" if case.ratio is None else f"{case.ratio:.2f}"
            lines.append(
                f"| {case.name} | {measured} | {fmt_value(case.baseline, case.unit)} "
                f"| {ratio} | {case.goal} | {_met(case.met)} |"
            )
        for reason in outcome.skipped:
            lines.append(f"| {outcome.benchmark} | skipped: {reason} | | | | |")
        if outcome.error:
            lines.append(f"| {outcome.benchmark} | failed: {outcome.error} | | | | |")
    return "\n".join(lines)
