"""What one run of the suite was asked to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunConfig:
    quick: bool = False
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    loadgen: str = "auto"  # auto, wrk or python
    connections: int = 64

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full
