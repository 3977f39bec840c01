"""Completeness hints: which details a case of its category still has to give."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from triage.taxonomy import Category
from triage.text.entities import Entity

__all__ = ["missing_details", "supplied_details"]

_PROMPT = {"zh": "请补充：{name}", "en": "Please add the {name}."}


def missing_details(
    category: Category,
    normalized_text: str,
    entities: Iterable[Entity],
    language: str,
    supplied: Mapping[str, str] | None = None,
) -> list[dict]:
    """The required details of `category` not found in the case, named in `language` (zh/en).

    A detail counts as given when the text holds one of its entity types or keywords, or when
    the case's order `supplied` it (detail id -> value: the service knows it, so the filer is
    not asked again).
    """
    found = {e.type for e in entities}
    supplied = supplied or {}
    missing = []
    for detail in category.required_details:
        if found.intersection(detail.entities) or detail.id in supplied:
            continue
        if any(k in normalized_text for k in detail.keywords):
            continue
        name = detail.name(language)
        missing.append(
            {
                "id": detail.id,
                "name": name,
                "prompt": _PROMPT.get(language, _PROMPT["en"]).format(name=name),
            }
        )
    return missing


def supplied_details(
    category: Category,
    normalized_text: str,
    entities: Iterable[Entity],
    language: str,
    supplied: Mapping[str, str],
) -> list[dict]:
    """The required details of `category` the text lacks and the order `supplied`: ``{"id",
    "name", "value", "found_in": "order"}`` (the filer is not asked for them)."""
    asked = {d["id"] for d in missing_details(category, normalized_text, entities, language)}
    return [
        {"id": d.id, "name": d.name(language), "value": supplied[d.id], "found_in": "order"}
        for d in category.required_details
        if d.id in asked and d.id in supplied
    ]
