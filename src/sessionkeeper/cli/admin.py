"""``sessionkeeper tenant …`` and ``sessionkeeper key …``."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from sessionkeeper.assembly import build_services
from sessionkeeper.cli.output import Format, Record, emit, pages
from sessionkeeper.config import Settings
from sessionkeeper.domain.principal import Scope
from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.domain.times import api_time
from sessionkeeper.errors import InvalidInput, NotFound
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage import tenants as store

tenant_app = typer.Typer(
    help="Tenants: one application or workspace each.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
key_app = typer.Typer(
    help="API keys: a tenant's, or the server-wide operator keys.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FormatOption = Annotated[
    Format, typer.Option("--format", help="table (for people), json or csv (for scripts).")
]
LimitOption = Annotated[int, typer.Option(min=1, help="Print at most this many.")]
AllOption = Annotated[bool, typer.Option("--all", help="Print every one, however many.")]


def services() -> Services:
    runtime = Runtime.open(Settings())
    runtime.db.migrate()
    return build_services(runtime)


def iso(ms: int | None) -> str | None:
    return None if ms is None else api_time(ms)


def row_limit(limit: int, every: bool) -> int | None:
    return None if every else limit


def plain(record: Record, name: str) -> str:
    value = record[name]
    return "" if value is None else str(value)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="1-64 letters, digits, . _ -")],
) -> None:
    """Create a tenant."""
    found = services()
    tenant = found.tenants.create_tenant(name)
    print(f"created tenant '{tenant.name}' (id {public_ids(found).tenants.public(tenant.id)})")


def public_ids(found: Services) -> PublicIds:
    """The ids the API shows (``domain/public_ids.py``): the command line shows the same."""
    return found.runtime.db.public_ids


def tenant_record(tenant: store.Tenant, ids: PublicIds) -> Record:
    return {
        "id": ids.tenants.public(tenant.id),
        "name": tenant.name,
        "created_at": iso(tenant.created_at),
    }


@tenant_app.command("list")
def tenant_list(
    output_format: FormatOption = Format.TABLE, limit: LimitOption = 100, every: AllOption = False
) -> None:
    """List tenants, oldest first."""
    found = services()
    tenants, ids = found.tenants, public_ids(found)

    def fetch(after: int | None, n: int) -> tuple[list[store.Tenant], int | None]:
        rows = tenants.list_tenants(after=after or 0, limit=n)
        return rows, rows[-1].id if len(rows) == n else None

    records = (tenant_record(t, ids) for t in pages(fetch, row_limit(limit, every)))
    columns = ["id", "name", "created_at"]
    emit(records, output_format, fields=columns, columns=columns, cell=plain)


class KeyScope(StrEnum):
    """The scopes ``key create`` makes keys with. A publishable key is nothing without the
    origins it may be used from, so it is made with them, by the API."""

    INGEST = Scope.INGEST.value
    READ = Scope.READ.value
    ADMIN = Scope.ADMIN.value


def _key_scope(value: str | None) -> KeyScope | None:
    """``--scope`` as given. Read here rather than as a choice of words, so that asking for a
    publishable key is told where one is made."""
    if value is None:
        return None
    if value == Scope.PUBLISH.value:
        raise InvalidInput(
            "--scope: publishable keys are made with their origins: POST /v1/publishable-keys",
            field="--scope",
        )
    try:
        return KeyScope(value)
    except ValueError:
        choices = ", ".join(KeyScope)
        raise InvalidInput(f"--scope: must be {choices} (got {value!r})", field="--scope") from None


@key_app.command("create")
def key_create(
    tenant: Annotated[str | None, typer.Option(help="The tenant the key belongs to.")] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            metavar=f"<{'|'.join(KeyScope)}>",
            help="Of a tenant's key: ingest (the default), read or admin. Publishable keys "
            "are made with their origins: POST /v1/publishable-keys.",
        ),
    ] = None,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator",
            help="An operator key instead: tenants, every tenant's health, sweep and metrics.",
        ),
    ] = False,
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    chosen = _key_scope(scope)
    if operator == (tenant is not None):
        raise InvalidInput("give either --tenant NAME or --operator", field="--tenant")
    if operator and chosen is not None:
        # An operator key has one fixed set of rights: taking --scope quietly would hand out
        # more than was asked for.
        raise InvalidInput("--scope: an operator key has no scope; leave it out", field="--scope")
    found = services()
    if operator:
        key_id, secret = found.tenants.create_operator_key()
        shown = public_ids(found).keys.public(key_id)
        print(f"created operator key {shown}; it is shown only now:", file=sys.stderr)
    else:
        assert tenant is not None
        made = Scope(chosen or KeyScope.INGEST)
        key_id, secret = found.tenants.create_key(tenant, made)
        shown = public_ids(found).keys.public(key_id)
        print(
            f"created {made.value} key {shown} for tenant '{tenant}'; it is shown only now:",
            file=sys.stderr,
        )
    print(secret, flush=True)


def key_record(key: store.ApiKey, ids: PublicIds) -> Record:
    return {
        "id": ids.keys.public(key.id),
        "tenant": key.tenant_name,  # null for an operator key
        "prefix": key.prefix,
        "scope": key.scope,
        "created_at": iso(key.created_at),
        "revoked_at": iso(key.revoked_at),
    }


def _key_cell(record: Record, name: str) -> str:
    if name == "prefix":
        return f"{record['prefix']}…"
    if name == "tenant" and record["tenant"] is None:
        return "(operator)"
    return plain(record, name)


@key_app.command("list")
def key_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    output_format: FormatOption = Format.TABLE,
    limit: LimitOption = 100,
    every: AllOption = False,
) -> None:
    """List API keys by their prefixes (the keys themselves are not stored)."""
    found = services()
    tenants, ids = found.tenants, public_ids(found)

    def fetch(after: int | None, n: int) -> tuple[list[store.ApiKey], int | None]:
        rows = tenants.list_keys(tenant, after=after or 0, limit=n)
        return rows, rows[-1].id if len(rows) == n else None

    records = (key_record(k, ids) for k in pages(fetch, row_limit(limit, every)))
    columns = ["id", "tenant", "prefix", "scope", "created_at", "revoked_at"]
    emit(records, output_format, fields=columns, columns=columns, cell=_key_cell)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[int, typer.Argument(metavar="KEY_ID", help="The id shown by key list.")],
) -> None:
    """Revoke an API key by id (see: key list)."""
    found = services()
    row_id = public_ids(found).keys.row(key_id)
    if row_id is None or not found.tenants.revoke_key(row_id):
        raise NotFound(f"no active key with id {key_id}")
    print(f"revoked key {key_id}")
