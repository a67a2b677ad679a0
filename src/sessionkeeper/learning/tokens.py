"""End-user tokens (JWT): the tenant's configuration, checked once, and a token checked by it.

The accepted algorithms come from the tenant's configuration only, never from the token's
header: a token signed with an algorithm the tenant did not list is refused, which closes
``alg: none`` and the HS/RS confusion (an RSA public key used as an HMAC secret). A tenant
lists either HMAC algorithms with a shared ``secret`` or public-key algorithms with a JWKS
document, never both kinds. ``exp`` is required; ``exp``, ``nbf`` and ``iat`` are checked
against the service's clock (``now`` passed in) with the tenant's leeway.

Every refusal is the same :class:`Unauthorized` with the same words: which check failed would
help an attacker more than it helps a developer, who can decode the token locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from sessionkeeper.domain.ids import ERASED_USER
from sessionkeeper.errors import Unauthorized

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MIN_SECRET_BYTES = 32
MAX_USER_ID_CHARS = 256
REFUSED = "the end-user token is not valid for this service"
# Members of a JWK that only a private key has: a tenant's JWKS holds public keys only.
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


@dataclass(frozen=True, slots=True)
class AuthConfig:
    algorithms: tuple[str, ...]
    issuer: str
    audience: str
    user_claim: str = "sub"
    leeway_s: int = 0
    secret: str | None = None
    jwks: Mapping[str, Any] | None = None
    # Where ``jwks`` was fetched from, when the tenant gave a URL; refreshed hourly.
    jwks_url: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "algorithms": list(self.algorithms),
            "issuer": self.issuer,
            "audience": self.audience,
            "user_claim": self.user_claim,
            "leeway_s": self.leeway_s,
            "secret": self.secret,
            "jwks": None if self.jwks is None else dict(self.jwks),
            "jwks_url": self.jwks_url,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthConfig:
        return cls(
            algorithms=tuple(data["algorithms"]),
            issuer=data["issuer"],
            audience=data["audience"],
            user_claim=data["user_claim"],
            leeway_s=data["leeway_s"],
            secret=data.get("secret"),
            jwks=data.get("jwks"),
            jwks_url=data.get("jwks_url"),
        )


def config_problem(config: AuthConfig) -> tuple[str, str] | None:
    """(field, why) when the configuration cannot be used, or None."""
    algorithms = set(config.algorithms)
    unknown = algorithms - HMAC_ALGORITHMS - PUBLIC_KEY_ALGORITHMS
    if not algorithms or unknown:
        listed = ", ".join(sorted(HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS))
        return "algorithms", f"algorithms are a non-empty list of: {listed}"
    if algorithms & HMAC_ALGORITHMS and algorithms & PUBLIC_KEY_ALGORITHMS:
        return "algorithms", "list HMAC (HS*) or public-key algorithms, not both"
    if algorithms <= HMAC_ALGORITHMS:
        if config.jwks is not None:
            return "jwks", "HMAC algorithms take a secret, not a JWKS"
        if config.secret is None or len(config.secret.encode()) < MIN_SECRET_BYTES:
            return "secret", f"HMAC algorithms need a secret of at least {MIN_SECRET_BYTES} bytes"
        return None
    if config.secret is not None:
        return "secret", "public-key algorithms take a JWKS document, not a secret"
    if config.jwks is None:
        return "jwks", 'public-key algorithms need a JWKS document ({"keys": [...]})'
    keys = config.jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        return "jwks", "the JWKS document needs a non-empty 'keys' list"
    for key in keys:
        if not isinstance(key, dict) or PRIVATE_JWK_MEMBERS & set(key):
            return "jwks", "the JWKS holds public keys only (no private or symmetric members)"
    try:
        jwt.PyJWKSet.from_dict(dict(config.jwks))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        return "jwks", f"the JWKS document cannot be read: {exc}"
    return None


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, unchecked: only to find which tenant's keys to check it with."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def _key(token: str, config: AuthConfig) -> Any:
    if config.secret is not None:
        return config.secret
    header = jwt.get_unverified_header(token)
    kid = header.get("kid")
    keys = jwt.PyJWKSet.from_dict(dict(config.jwks or {})).keys
    if kid is None:
        if len(keys) != 1:
            raise Unauthorized(REFUSED)
        return keys[0].key
    for key in keys:
        if key.key_id == kid:
            return key.key
    raise Unauthorized(REFUSED)


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthorized(REFUSED)
    return float(value)


def user_of(token: str, config: AuthConfig, now_s: float) -> str:
    """The user id a valid token names; :class:`Unauthorized` for any other token."""
    try:
        claims = jwt.decode(
            token,
            _key(token, config),
            algorithms=list(config.algorithms),
            audience=config.audience,
            issuer=config.issuer,
            # Times are checked below against the service's clock, not the machine's.
            options={
                "require": ["exp", "iss", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except Unauthorized:
        raise
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise Unauthorized(REFUSED) from exc
    leeway = config.leeway_s
    exp = _number(claims, "exp")
    if exp is None or now_s >= exp + leeway:
        raise Unauthorized(REFUSED)
    for name in ("nbf", "iat"):
        at = _number(claims, name)
        if at is not None and at > now_s + leeway:
            raise Unauthorized(REFUSED)
    user = claims.get(config.user_claim)
    if not isinstance(user, str) or not 0 < len(user) <= MAX_USER_ID_CHARS or "\x00" in user:
        raise Unauthorized(REFUSED)
    if user == ERASED_USER:  # no one's: it would take over every erased user's rooms
        raise Unauthorized(REFUSED)
    return user
