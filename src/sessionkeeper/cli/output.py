"""Listings printed for people or for scripts: ``--format table|json|csv``.

- ``table``: for people. On a terminal, long values may be shortened to fit; otherwise (a
  pipe, a file) every value is printed in full.
- ``json``: one JSON array whose objects have the HTTP API's fields, written as the rows
  arrive, so ``--all`` over millions of rows streams instead of waiting.
- ``csv``: a header line, then one line per row (nested values as JSON), also streamed.

Rows come from :func:`pages`, which follows the listing's cursor until the limit (or, with
``--all``, the end).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TextIO, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

T = TypeVar("T")
C = TypeVar("C")
Record = dict[str, Any]
# Rows per page when following a listing's cursor.
PAGE = 500


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def pages(
    fetch: Callable[[C | None, int], tuple[list[T], C | None]], limit: int | None
) -> Iterator[T]:
    """Rows of a listing, page after page: ``fetch(cursor, n)`` returns up to ``n`` rows and
    the cursor of the next page (None at the end). ``limit`` None: every row."""
    cursor: C | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = PAGE if remaining is None else min(PAGE, remaining)
        rows, cursor = fetch(cursor, size)
        yield from rows
        if remaining is not None:
            remaining -= len(rows)
        if cursor is None or not rows:
            return


def emit(
    records: Iterable[Record],
    output_format: Format,
    *,
    fields: Sequence[str],
    columns: Sequence[str],
    cell: Callable[[Record, str], str],
    out: TextIO | None = None,
) -> None:
    """Print ``records``: json and csv carry every one of ``fields``; the table shows
    ``columns``, each value as ``cell`` writes it."""
    stream = out or sys.stdout
    if output_format is Format.JSON:
        _json(records, stream)
    elif output_format is Format.CSV:
        _csv(records, fields, stream)
    else:
        _table(records, columns, cell, stream)


def _json(records: Iterable[Record], stream: TextIO) -> None:
    stream.write("[")
    for i, record in enumerate(records):
        stream.write(("," if i else "") + "\n" + json.dumps(record, ensure_ascii=False))
    stream.write("\n]\n")
    stream.flush()


def _csv(records: Iterable[Record], fields: Sequence[str], stream: TextIO) -> None:
    writer = csv.DictWriter(stream, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_value(v) for k, v in record.items()})
    stream.flush()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _table(
    records: Iterable[Record],
    columns: Sequence[str],
    cell: Callable[[Record, str], str],
    stream: TextIO,
) -> None:
    terminal = stream.isatty()
    # Off a terminal nothing is shortened: the table is as wide as its widest values.
    console = Console(file=stream, width=None if terminal else 1_000_000, highlight=False)
    table = Table(expand=False)
    for name in columns:
        if terminal:
            table.add_column(Text(name))
        else:
            table.add_column(Text(name), no_wrap=True, overflow="ignore")
    for record in records:
        # Text, not str: a value is shown as it is, never read as console markup.
        table.add_row(*(Text(cell(record, name)) for name in columns))
    console.print(table, crop=terminal, soft_wrap=not terminal)
