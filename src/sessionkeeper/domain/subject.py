"""A session's subject: the ids it is about, for filtering and grouping.

``{"teacher_id": "t1", "student_id": "s9"}`` on a lesson lets an admin list, count and export
the lessons of one teacher (``subject.teacher_id=t1``) or group them per student. It is a flat
object of short strings, small enough to filter on in SQL; everything else a client wants to
keep goes into ``attributes``. Field names are restricted so that ``subject.<field>`` reads
unambiguously as a query parameter and a CSV column.
"""

from __future__ import annotations

import re

SUBJECT_FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_SUBJECT_FIELDS = 16
MAX_SUBJECT_VALUE_LENGTH = 256
# The prefix of a subject field as a filter, a group and a CSV column: ``subject.teacher_id``.
SUBJECT_PREFIX = "subject."

_FIELD_RE = re.compile(SUBJECT_FIELD_PATTERN)


def is_subject_field(name: str) -> bool:
    return bool(_FIELD_RE.fullmatch(name))
