"""``python -m bench [benchmark ...] [--quick] [--sqlite-only] [--loadgen auto|wrk|python]``.

Runs the chosen benchmarks (all by default) one after the other, writes
``bench/results/<benchmark>.json`` for each and prints a markdown table. Timings are reported,
never asserted: the exit status is 0 whether or not goals are met, 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import os
import time
import traceback
from collections.abc import Callable

from bench import (
    clicks,
    dashboard_pages,
    event_ingest,
    export,
    fleet,
    heartbeat_batch,
    heartbeat_http,
    learning_stats,
    memory,
    metrics_daily,
    presence,
    rollup_catchup,
    rooms_cleanup,
    steady,
    sweep,
    workers,
)
from bench.config import RunConfig
from bench.databases import postgres_available, postgres_version
from bench.loadgen import pick_generator
from bench.report import Outcome, machine_info, markdown_table, write_json

BENCHMARKS: dict[str, Callable[[RunConfig], Outcome]] = {
    heartbeat_http.NAME: heartbeat_http.run,
    heartbeat_batch.NAME: heartbeat_batch.run,
    steady.NAME: steady.run,
    sweep.NAME: sweep.run,
    memory.NAME: memory.run,
    presence.NAME: presence.run,
    metrics_daily.NAME: metrics_daily.run,
    event_ingest.NAME: event_ingest.run,
    rollup_catchup.NAME: rollup_catchup.run,
    export.NAME: export.run,
    rooms_cleanup.NAME: rooms_cleanup.run,
    workers.NAME: workers.run,
    fleet.NAME: fleet.run,
    learning_stats.NAME: learning_stats.run,
    clicks.NAME: clicks.run,
    dashboard_pages.NAME: dashboard_pages.run,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="sessionkeeper benchmarks: ratios to same-run baselines.",
    )
    parser.add_argument(
        "benchmarks",
        nargs="*",
        metavar="benchmark",
        help=f"any of {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--sqlite-only", action="store_true", help="skip the PostgreSQL cases")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator for the heartbeat benchmark (auto: wrk if installed)",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {list(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.benchmarks or list(BENCHMARKS)
    backends: tuple[str, ...] = ("sqlite",) if args.sqlite_only else ("sqlite", "postgresql")
    config = RunConfig(quick=args.quick, backends=backends, loadgen=args.loadgen)
    machine = machine_info()
    if "postgresql" in backends and postgres_available():
        machine["postgresql"] = postgres_version()
    if heartbeat_http.NAME in names:
        machine["loadgen"] = pick_generator(args.loadgen)
    outcomes: list[Outcome] = []
    began = time.perf_counter()
    for name in names:
        load_before = os.getloadavg()[0]
        print(f"== {name} (load average {load_before:.1f}) …", flush=True)
        started = time.perf_counter()
        try:
            outcome = BENCHMARKS[name](config)
        except Exception as exc:
            traceback.print_exc()
            outcome = Outcome(name, error=f"{type(exc).__name__}: {exc}")
        outcome.settings["elapsed_s"] = round(time.perf_counter() - started, 1)
        # Other work on the machine skews a run; the 1-minute load average shows how much.
        outcome.settings["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        path = write_json(outcome, machine, quick=args.quick)
        print(f"   done in {outcome.settings['elapsed_s']} s → {path}", flush=True)
        outcomes.append(outcome)
    print()
    print(markdown_table(outcomes))
    print()
    info = ", ".join(f"{k} {v}" for k, v in machine.items() if v is not None)
    print(f"{info}; total {time.perf_counter() - began:.0f} s{' (quick)' if args.quick else ''}")
    busy = [o.benchmark for o in outcomes if max(o.settings.get("loadavg_1m", [0])) > 1.5]
    if busy:
        print(f"note: other load on the machine during {', '.join(busy)} (see loadavg_1m)")
    return 1 if any(o.error for o in outcomes) else 0
