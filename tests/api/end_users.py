"""End-user tokens for the tests: an HMAC secret and RSA/EC key pairs, tokens made with them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.support import Harness

SECRET = "a-shared-secret-of-at-least-32-bytes!!"
ISSUER = "https://auth.example.com/"
AUDIENCE = "sessionkeeper"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {"keys": [{**rsa_jwk, "kid": "rsa-1"}, {**ec_jwk, "kid": "ec-1"}]}


HS_SETTINGS = {"algorithms": ["HS256"], "secret": SECRET, "issuer": ISSUER, "audience": AUDIENCE}
RS_SETTINGS = {
    "algorithms": ["RS256", "ES256"],
    "jwks": jwks(),
    "issuer": ISSUER,
    "audience": AUDIENCE,
}


def claims(api: Harness, user: str, **changes: Any) -> dict[str, Any]:
    now = api.clock.now_ms() // 1000
    found: dict[str, Any] = {
        "sub": user,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def hs_token(api: Harness, user: str, secret: str = SECRET, **changes: Any) -> str:
    return jwt.encode(claims(api, user, **changes), secret, algorithm="HS256")


def rs_token(api: Harness, user: str, kid: str = "rsa-1", **changes: Any) -> str:
    return jwt.encode(
        claims(api, user, **changes), RSA_KEY, algorithm="RS256", headers={"kid": kid}
    )


def es_token(api: Harness, user: str, **changes: Any) -> str:
    return jwt.encode(
        claims(api, user, **changes), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def configure(api: Harness, settings: dict[str, Any] = HS_SETTINGS) -> None:
    r = await api.put("/v1/settings/auth", settings)
    assert r.status_code == 200, r.text


class User:
    """An end user calling /v1/me with a token of their own."""

    def __init__(self, api: Harness, user_id: str) -> None:
        self.api = api
        self.user_id = user_id

    @property
    def headers(self) -> dict[str, str]:
        return bearer(hs_token(self.api, self.user_id))

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return await self.api.client.request(
            method, path, json=body, headers=self.headers, params=params or None
        )
