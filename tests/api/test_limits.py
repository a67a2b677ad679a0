"""README's table of limits is the code's list, and the limits it names are the ones that
hold: a body one byte over its cap is refused, one at the cap is not."""

from __future__ import annotations

import json
from pathlib import Path

from sessionkeeper.assembly import FEATURES
from sessionkeeper.config import Settings
from sessionkeeper.limits import limits, markdown
from tests.support import Harness

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- limits:begin -->\n", "<!-- limits:end -->"


def test_readme_table_is_generated_from_the_code() -> None:
    text = README.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert table == markdown(), "run `python -m sessionkeeper.limits` and paste it into README"


def test_the_table_shows_defaults_and_every_setting_exists() -> None:
    fields = {f"SESSIONKEEPER_{name.upper()}" for name in Settings.model_fields}
    for item in limits():
        assert item.setting == "" or item.setting in fields, item
    defaults = {item.setting: item.value for item in limits() if item.setting}
    assert defaults["SESSIONKEEPER_MAX_BODY_BYTES"] == "1 MiB"


async def test_the_body_cap_is_exact(api: Harness) -> None:
    cap = api.runtime.settings.max_body_bytes
    head = b'{"user_id": "u", "kind": "game", "label": "'
    tail = b'"}'
    at_cap = head + b"x" * (cap - len(head) - len(tail)) + tail
    assert len(at_cap) == cap
    headers = {"content-type": "application/json", **api.auth()}
    # At the cap the body passes the size check (and is then judged on its content).
    response = await api.client.post("/v1/sessions", content=at_cap, headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "label"
    over = at_cap[:-2] + b'x"}'
    response = await api.client.post("/v1/sessions", content=over, headers=headers)
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert json.loads(at_cap)["kind"] == "game"


def test_the_taken_source_names_in_the_table_are_the_features_own() -> None:
    row = next(item for item in limits() if item.what == "presence source name")
    sources = {source for feature in FEATURES for source in feature.session_sources}
    assert sources and all(f"`{source}`" in row.value for source in sources)
