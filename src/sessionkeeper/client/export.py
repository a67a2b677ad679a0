"""Reading the CSV export as it streams in: whole records out of arbitrary chunks of text.

A record ends at a line break outside quotes; a quoted field may itself hold line breaks
(RFC 4180), so a line is only a record once its quotes balance.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


class CsvRecords:
    """Feed text in any chunks; get each finished record as a dict keyed by the header."""

    def __init__(self) -> None:
        self._pending = ""
        self._scanned = 0  # where to look for the next line break
        self.header: list[str] | None = None

    def feed(self, text: str) -> Iterator[dict[str, str]]:
        self._pending += text
        while True:
            end = self._pending.find("\n", self._scanned)
            if end == -1:
                self._scanned = len(self._pending)
                return
            candidate = self._pending[: end + 1]
            if candidate.count('"') % 2:  # inside a quoted field: the record goes on
                self._scanned = end + 1
                continue
            self._pending, self._scanned = self._pending[end + 1 :], 0
            for row in csv.reader(io.StringIO(candidate, newline="")):
                if self.header is None:
                    self.header = row
                else:
                    yield dict(zip(self.header, row, strict=True))
