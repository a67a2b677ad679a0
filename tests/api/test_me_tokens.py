"""End-user tokens: only a valid token of the tenant's configuration opens /v1/me; every
refusal is the same 401 problem that tells an attacker nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from tests.api.end_users import (
    HS_SETTINGS,
    RS_SETTINGS,
    RSA_PUBLIC_PEM,
    SECRET,
    bearer,
    claims,
    configure,
    es_token,
    hs_token,
    rs_token,
)
from tests.support import Harness

REFUSED = "the end-user token is not valid for this service"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _refused(api: Harness, token: str, **headers: str) -> None:
    r = await api.client.get("/v1/me/sessions", headers={**bearer(token), **headers})
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == REFUSED
    assert r.headers["www-authenticate"] == "Bearer"


async def _accepted(api: Harness, token: str, **headers: str) -> None:
    r = await api.client.get("/v1/me/sessions", headers={**bearer(token), **headers})
    assert r.status_code == 200, r.text


# One of the refused tokens is signed HS512 with the tenant's 38-byte HS256 secret.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_hs256_token_accepted_and_every_bad_one_refused(api: Harness) -> None:
    await configure(api, HS_SETTINGS)
    await _accepted(api, hs_token(api, "alice"))
    now = api.clock.now_ms() // 1000
    await _refused(api, hs_token(api, "alice", exp=now - 1))  # expired
    await _refused(api, hs_token(api, "alice", nbf=now + 120))  # not yet valid
    await _refused(api, hs_token(api, "alice", iat=now + 120))  # issued in the future
    await _refused(api, hs_token(api, "alice", aud="another-service"))
    await _refused(api, hs_token(api, "alice", iss="https://evil.example.com/"))
    await _refused(api, hs_token(api, "alice", exp=None))  # exp is required
    await _refused(api, hs_token(api, "alice", secret=SECRET + "x"))  # wrong signature
    await _refused(api, hs_token(api, "alice", sub=None))  # no user
    await _refused(api, hs_token(api, "alice", sub=42))  # not a string
    await _refused(api, hs_token(api, "alice", exp="tomorrow"))
    await _refused(api, "not-a-jwt")
    # alg none: an unsigned token with the right claims.
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims(api, 'alice'))}."
    await _refused(api, unsigned)
    # A token of another algorithm the tenant did not list (HS512 with the same secret).
    await _refused(api, jwt.encode(claims(api, "alice"), SECRET, algorithm="HS512"))
    r = await api.client.get("/v1/me/sessions")
    assert r.status_code == 401


async def test_leeway_and_the_services_clock(api: Harness) -> None:
    await configure(api, {**HS_SETTINGS, "leeway_s": 30})
    token = hs_token(api, "alice")
    api.advance(600 + 29)
    await _accepted(api, token)  # expired 29 s ago, within the leeway
    api.advance(2)
    await _refused(api, token)


async def test_rs256_and_es256_from_the_jwks(api: Harness) -> None:
    await configure(api, RS_SETTINGS)
    await _accepted(api, rs_token(api, "alice"))
    await _accepted(api, es_token(api, "alice"))
    await _refused(api, rs_token(api, "alice", kid="unknown-kid"))
    # A token signed by the RSA key but claiming the EC key's kid.
    await _refused(api, rs_token(api, "alice", kid="ec-1"))
    # HS/RS confusion: HS256 signed with the RSA public key as the HMAC secret.
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    payload = _b64(claims(api, "alice"))
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(RSA_PUBLIC_PEM, signing_input, hashlib.sha256).digest()
    confused = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
    await _refused(api, confused)
    # An HMAC tenant never accepts RS tokens either.
    await configure(api, HS_SETTINGS)
    await _refused(api, rs_token(api, "alice"))


async def test_a_token_of_another_tenant_is_refused(api: Harness) -> None:
    await configure(api, HS_SETTINGS)
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    other_secret = "the-other-tenants-secret-of-32-bytes!!"
    r = await api.client.put(
        "/v1/settings/auth",
        json={**HS_SETTINGS, "secret": other_secret, "issuer": "https://other.example.com/"},
        headers=other,
    )
    assert r.status_code == 200
    other_token = hs_token(api, "alice", secret=other_secret, iss="https://other.example.com/")
    # Naming the tenant: checked with default's configuration, refused.
    await _refused(api, other_token, **{"Sessionkeeper-Tenant": "default"})
    await _accepted(api, hs_token(api, "alice"), **{"Sessionkeeper-Tenant": "default"})
    # Found by its issuer: it opens only the other tenant, never default's data.
    await _accepted(api, other_token)
    await _refused(api, hs_token(api, "alice", secret=other_secret))
    # A tenant that expects no tokens, and an unknown tenant.
    api.services.tenants.create_tenant("third")
    await _refused(api, hs_token(api, "alice"), **{"Sessionkeeper-Tenant": "third"})
    await _refused(api, hs_token(api, "alice"), **{"Sessionkeeper-Tenant": "nobody"})


async def test_two_tenants_naming_one_issuer_each_keep_their_own_users(api: Harness) -> None:
    """Another tenant that names this tenant's issuer with keys of its own neither refuses
    this tenant's users nor sees its own tokens refused; tokens both tenants would accept
    (the same secret and audience) must name their tenant."""
    await configure(api, HS_SETTINGS)
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    other_secret = "the-other-tenants-secret-of-32-bytes!!"

    async def settings_of_other(secret: str) -> None:
        r = await api.client.put(
            "/v1/settings/auth", json={**HS_SETTINGS, "secret": secret}, headers=other
        )
        assert r.status_code == 200, r.text

    await settings_of_other(other_secret)
    mine, theirs = hs_token(api, "alice"), hs_token(api, "alice", secret=other_secret)
    for session_id, token in (("m1", mine), ("t1", theirs)):
        body = {"id": session_id, "kind": "lesson"}
        made = await api.client.post("/v1/me/sessions", json=body, headers=bearer(token))
        assert made.status_code == 201, made.text
    listed = (await api.get("/v1/sessions")).json()["items"]
    listed_by_other = (await api.client.get("/v1/sessions", headers=other)).json()["items"]
    assert [s["id"] for s in listed] == ["m1"] and [s["id"] for s in listed_by_other] == ["t1"]
    # The same secret: both accept the token, so it must say which tenant it is for.
    await settings_of_other(SECRET)
    await _refused(api, mine)
    await _accepted(api, mine, **{"Sessionkeeper-Tenant": "default"})


async def test_an_api_key_is_not_an_end_user_token(api: Harness) -> None:
    await configure(api, HS_SETTINGS)
    await _refused(api, api.keys["admin"])


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({**HS_SETTINGS, "algorithms": ["none"]}, "algorithms"),
        ({**HS_SETTINGS, "algorithms": ["HS256", "RS256"]}, "algorithms"),
        ({**HS_SETTINGS, "secret": "short"}, "secret"),
        ({**HS_SETTINGS, "secret": None}, "secret"),
        ({**RS_SETTINGS, "jwks": None}, "jwks"),
        ({**RS_SETTINGS, "jwks": "http://127.0.0.1:9/jwks.json"}, "jwks"),  # loopback
        ({**RS_SETTINGS, "jwks": "file:///etc/passwd"}, "jwks"),
        ({**RS_SETTINGS, "jwks": {"keys": []}}, "jwks"),
        ({**RS_SETTINGS, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "jwks"),
        ({**RS_SETTINGS, "secret": SECRET}, "secret"),
        ({**HS_SETTINGS, "leeway_s": -1}, "leeway_s"),
        ({**HS_SETTINGS, "issuer": ""}, "issuer"),
        ({k: v for k, v in HS_SETTINGS.items() if k != "audience"}, "audience"),
    ],
)
async def test_unusable_configurations_are_422(
    api: Harness, settings: dict[str, Any], field: str
) -> None:
    r = await api.put("/v1/settings/auth", settings)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_settings_never_send_the_secret_back(api: Harness) -> None:
    assert (await api.get("/v1/settings/auth")).json()["configured"] is False
    await configure(api, HS_SETTINGS)
    body = (await api.get("/v1/settings/auth")).json()
    assert body["configured"] is True and body["secret_set"] is True
    assert SECRET not in json.dumps(body)
    assert (await api.get("/v1/settings/auth", scope="read")).status_code == 403
    assert (await api.put("/v1/settings/auth", HS_SETTINGS, scope="ingest")).status_code == 403
    r = await api.client.delete("/v1/settings/auth", headers=api.auth())
    assert r.status_code == 204
    await _refused(api, hs_token(api, "alice"))
