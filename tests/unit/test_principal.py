"""The principal: who the audit log says acted (``Principal.actor``: the credential, never
the user whose rows a key or the operator acted on), and what part of a per-tenant figure it
may see (``Principal.part_of``)."""

from __future__ import annotations

import dataclasses

from sessionkeeper.domain.principal import (
    Credential,
    Principal,
    Scope,
    operator,
    server_operator,
)


def narrowed(principal: Principal, user_id: str) -> Principal:
    """As ``/v1/users/{user_id}/…`` narrows a caller to one user's rows."""
    return dataclasses.replace(principal, user_id=user_id)


def test_a_key_acting_on_a_users_rows_is_the_key() -> None:
    key = Principal(1, "t", Scope.ADMIN, Credential.API_KEY, credential_id="12")
    assert narrowed(key, "alice").actor == key.actor == "api_key:12"


def test_the_operator_acting_on_a_users_rows_is_the_operator() -> None:
    assert narrowed(operator(1, "t"), "zz_user").actor == "operator"


def test_an_end_users_own_token_is_that_user() -> None:
    token = Principal(1, "t", Scope.INGEST, Credential.END_USER_TOKEN, user_id="alice")
    assert token.actor == "end_user_token:alice"


def test_a_tenant_sees_its_own_part_of_a_figure_and_the_server_operator_the_whole() -> None:
    by_tenant = {1: 3, 2: 5}
    assert Principal(1, "t", Scope.READ).part_of(by_tenant) == 3
    assert Principal(7, "u", Scope.ADMIN).part_of(by_tenant) == 0
    assert operator(2, "v").part_of(by_tenant) == 5  # the operator naming one tenant
    assert server_operator().part_of(by_tenant) == 8
