"""The fields features add to sessions (``feature.SessionField``) over HTTP: taken from the end
body, and described in the OpenAPI document.

The kernel's models cannot name these fields (they come with the features an app is built
with), so ``SessionOut`` and ``SessionEnd`` accept extra fields, and this module keeps both
honest: an end body's extra field that no feature accepts is refused as any unknown field is,
and the document lists each added field with its feature's schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from sessionkeeper.services.session_fields import SessionFields

REF = "#/components/schemas/{model}"


def end_values(extra: Mapping[str, Any] | None, fields: SessionFields) -> dict[str, Any]:
    """The features' fields of an end body, each validated with its feature's model (as its
    own routes validate it). A field no feature accepts is refused, as unknown fields are;
    ``null`` is the same as leaving a field out."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for name, raw in (extra or {}).items():
        field = fields.accepted_at_end(name)
        if field is None or field.end_model is None:
            errors.append(
                {
                    "type": "extra_forbidden",
                    "loc": ("body", name),
                    "msg": "Extra inputs are not permitted",
                    "input": raw,
                }
            )
        elif raw is not None:
            try:
                values[name] = field.end_model.model_validate(raw)
            except ValidationError as exc:
                errors += [{**e, "loc": ("body", name, *e["loc"])} for e in exc.errors()]
    if errors:
        raise RequestValidationError(errors)
    return values


def _component(components: dict[str, Any], model: type[BaseModel], mode: str) -> str:
    """A reference to ``model``'s schema, added to the components when not there yet."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, schema)
    return REF.format(model=model.__name__)


HEARTBEAT_NOTE = " Not sent in heartbeat answers (read the session for it)."


def describe(
    schema: dict[str, Any],
    fields: SessionFields,
    *,
    answers: Sequence[str],
    heartbeat: str,
    end_body: str,
) -> None:
    """Add each feature's session field to the session answers ``answers`` and ``heartbeat``
    (optional, null when none), and the fields an end accepts to ``end_body``, which otherwise
    takes no unknown field."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for field in fields:
        ref = _component(components, field.answer_model, "serialization")
        answer = {"anyOf": [{"$ref": ref}, {"type": "null"}], "description": field.description}
        for name in answers:
            components[name]["properties"][field.name] = answer
        components[heartbeat]["properties"][field.name] = {
            **answer,
            "description": field.description + HEARTBEAT_NOTE,
        }
        if field.end_model is not None:
            given = _component(components, field.end_model, "validation")
            components[end_body]["properties"][field.name] = {
                "anyOf": [{"$ref": given}, {"type": "null"}],
                "description": f"Stored with the end, in the same transaction: {field.description}",
            }
    components[end_body]["additionalProperties"] = False
