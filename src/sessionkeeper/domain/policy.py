"""Per tenant and kind: how often clients heartbeat and when silence means gone.

Rooms of the kind read two more values: how often their participants send presence, and how
long a room may stay silent before its cleanup closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_KIND = "*"
DEFAULT_HEARTBEAT_INTERVAL_S = 60.0
# With heartbeats every h seconds, five missed beats mean gone: 300 s for the default 60 s.
TIMEOUT_HEARTBEATS = 5
DEFAULT_PRESENCE_INTERVAL_S = 30.0
DEFAULT_ROOM_TIMEOUT_S = 3600.0
# A browser page reported hidden (a background tab) beats rarely or not at all, since
# browsers throttle its timers; it keeps its session this long before the session times out.
DEFAULT_HIDDEN_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class Policy:
    heartbeat_interval_s: float
    timeout_s: float
    grace_s: float
    # Rooms of this kind: participants send presence this often; a room with no participant
    # seen for room_timeout_s is inactive.
    presence_interval_s: float = DEFAULT_PRESENCE_INTERVAL_S
    room_timeout_s: float = DEFAULT_ROOM_TIMEOUT_S
    # Browser sessions whose last beat said the page was hidden: the timeout instead of
    # ``timeout_s`` (a per-session deadline, see ``links/tracker_service.py``).
    hidden_timeout_s: float = DEFAULT_HIDDEN_TIMEOUT_S

    @property
    def hidden_timeout_ms(self) -> int:
        return round(self.hidden_timeout_s * 1000)

    @property
    def interval_ms(self) -> int:
        return round(self.heartbeat_interval_s * 1000)

    @property
    def timeout_ms(self) -> int:
        return round(self.timeout_s * 1000)

    @property
    def grace_ms(self) -> int:
        return round(self.grace_s * 1000)

    @property
    def presence_interval_ms(self) -> int:
        return round(self.presence_interval_s * 1000)

    @property
    def room_timeout_ms(self) -> int:
        return round(self.room_timeout_s * 1000)


class PolicyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _in_ms(seconds: float) -> float:
    """``seconds`` as stored: a whole number of milliseconds, in seconds again."""
    return round(seconds * 1000) / 1000


def build_policy(
    heartbeat_interval_s: float | None = None,
    timeout_s: float | None = None,
    grace_s: float | None = None,
    presence_interval_s: float | None = None,
    room_timeout_s: float | None = None,
    hidden_timeout_s: float | None = None,
) -> Policy:
    """Fill in defaults and check that the values make sense together.

    The default grace is half the heartbeat interval: a client that stopped silently did so,
    on average, half an interval after its last heartbeat, so crediting h/2 is unbiased.

    Policies are stored in whole milliseconds: a value given finer is refused (it could not
    be read back as sent), and one derived from others is rounded to the millisecond.
    """
    given = {
        "heartbeat_interval_s": heartbeat_interval_s,
        "timeout_s": timeout_s,
        "grace_s": grace_s,
        "presence_interval_s": presence_interval_s,
        "room_timeout_s": room_timeout_s,
        "hidden_timeout_s": hidden_timeout_s,
    }
    for field, value in given.items():
        if value is not None and _in_ms(value) != value:
            raise PolicyError(field, f"{field} has at most millisecond precision (0.001 s)")
    interval = (
        DEFAULT_HEARTBEAT_INTERVAL_S if heartbeat_interval_s is None else heartbeat_interval_s
    )
    timeout = _in_ms(interval * TIMEOUT_HEARTBEATS) if timeout_s is None else timeout_s
    grace = _in_ms(interval / 2) if grace_s is None else grace_s
    if interval < 1:
        raise PolicyError("heartbeat_interval_s", "heartbeat_interval_s must be at least 1 second")
    if timeout < interval:
        raise PolicyError("timeout_s", "timeout_s must be at least heartbeat_interval_s")
    # A grace beyond the interval would credit time after the moment a live client would have
    # beaten again: an estimated end outside its own bounds (``lifecycle.duration_bounds``).
    if grace < 0 or grace > interval:
        raise PolicyError("grace_s", "grace_s must lie between 0 and heartbeat_interval_s")
    presence = DEFAULT_PRESENCE_INTERVAL_S if presence_interval_s is None else presence_interval_s
    room_timeout = DEFAULT_ROOM_TIMEOUT_S if room_timeout_s is None else room_timeout_s
    if presence < 1:
        raise PolicyError("presence_interval_s", "presence_interval_s must be at least 1 second")
    if room_timeout < presence:
        raise PolicyError("room_timeout_s", "room_timeout_s must be at least presence_interval_s")
    # By default a hidden page is never given less time than a visible one.
    hidden = (
        max(DEFAULT_HIDDEN_TIMEOUT_S, timeout) if hidden_timeout_s is None else hidden_timeout_s
    )
    if hidden < interval:
        raise PolicyError(
            "hidden_timeout_s", "hidden_timeout_s must be at least heartbeat_interval_s"
        )
    return Policy(
        heartbeat_interval_s=interval,
        timeout_s=timeout,
        grace_s=grace,
        presence_interval_s=presence,
        room_timeout_s=room_timeout,
        hidden_timeout_s=hidden,
    )


DEFAULT_POLICY = build_policy()


def resolve_policy(policies: dict[str, Policy], kind: str) -> Policy:
    """The kind's own policy, else the tenant's ``*`` policy, else the built-in default."""
    return policies.get(kind) or policies.get(DEFAULT_KIND) or DEFAULT_POLICY
