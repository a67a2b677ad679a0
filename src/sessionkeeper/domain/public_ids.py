"""The ids of keys, tenants and audit entries as clients see them, and cursors over them.

Rows are numbered by the database, one sequence for every tenant: shown as they are, a
tenant's ids would count the keys and actions of every other tenant (the gap between two of
its own keys is the number made elsewhere in between). Every such id therefore leaves the
server through a keyed permutation of the integers 1 to 2^52 - 1: a bijection, so an id
names one row forever and pages keep the rows' order inside the server, but without the
server's secret the numbers say nothing about each other. 2^52 keeps every id exact in
JavaScript's numbers.

Each kind of row has its own permutation, so that a key and an audit entry of the same row
number do not show the same id. A permutation is a balanced Feistel network over 52 bits whose
round function is BLAKE2b keyed by the server's secret and personalised by the kind, walked
on (cycle walking) past 0 so that ids stay positive. Eight rounds: four already make a
pseudorandom permutation of a pseudorandom round function (Luby-Rackoff); the rest is margin
at a cost of about 10 µs an id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BITS = 52
# Ids as shown are 1 to MAX_PUBLIC_ID, and so are the row ids they can stand for.
LIMIT = 1 << BITS
MAX_PUBLIC_ID = LIMIT - 1
_HALF = BITS // 2
_MASK = (1 << _HALF) - 1
_ROUNDS = 8
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class IdPermutation:
    """Shows the row ids of one kind of row as public ids and reads them back."""

    key: bytes
    kind: str

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"the key of public ids is {KEY_BYTES} bytes")
        if not 0 < len(self.kind.encode()) <= hashlib.blake2b.PERSON_SIZE:
            raise ValueError("the kind of a permutation is 1 to 16 bytes")

    def public(self, row_id: int) -> int:
        """The id a client sees for the row ``row_id`` (1 to LIMIT - 1)."""
        if not 0 < row_id < LIMIT:
            raise ValueError(f"row id {row_id} is outside 1 to 2^{BITS} - 1")
        value = self._forward(row_id)
        while value == 0:
            value = self._forward(value)
        return value

    def row(self, public_id: int) -> int | None:
        """The row a public id stands for; None for a number no id can be."""
        if not 0 < public_id < LIMIT:
            return None
        value = self._backward(public_id)
        while value == 0:
            value = self._backward(value)
        return value

    def _round(self, index: int, half: int) -> int:
        data = bytes((index,)) + half.to_bytes(4, "big")
        mixed = hashlib.blake2b(
            data, key=self.key, person=self.kind.encode(), digest_size=4
        ).digest()
        return int.from_bytes(mixed, "big") & _MASK

    def _forward(self, value: int) -> int:
        left, right = value >> _HALF, value & _MASK
        for index in range(_ROUNDS):
            left, right = right, left ^ self._round(index, right)
        return left << _HALF | right

    def _backward(self, value: int) -> int:
        left, right = value >> _HALF, value & _MASK
        for index in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(index, left), left
        return left << _HALF | right


@dataclass(frozen=True, slots=True)
class PublicIds:
    """A server's permutations, one for each kind of row the API shows by id."""

    keys: IdPermutation
    tenants: IdPermutation
    audit: IdPermutation
    deliveries: IdPermutation  # of webhooks, in the cursors of their listing

    @classmethod
    def of(cls, key: bytes) -> PublicIds:
        return cls(
            keys=IdPermutation(key, "keys"),
            tenants=IdPermutation(key, "tenants"),
            audit=IdPermutation(key, "audit"),
            deliveries=IdPermutation(key, "deliveries"),
        )
