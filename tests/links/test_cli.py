"""The CLI makes no publishable key: one without its origins could never be used."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import cli


def test_key_create_refuses_the_publish_scope(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    cli(url, "migrate")
    cli(url, "tenant", "create", "acme")
    refused = cli(url, "key", "create", "--tenant", "acme", "--scope", "publish", ok=False)
    assert refused.returncode == 2 and "/v1/publishable-keys" in refused.stderr
    assert "pk_" not in refused.stdout and "sk_" not in refused.stdout
