"""Secrets handed out once and stored only as digests: API keys, tokens of links and invites.

Every such secret carries at least 128 random bits, so a fast digest is enough: there is no
dictionary to guess from, and no salt or stretching is needed. Comparing digests found by an
index lookup leaks nothing about the secret.
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "sk_"
# 24 bytes of token_urlsafe: 192 random bits.
SECRET_BYTES = 24


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
