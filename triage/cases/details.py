"""Completeness hints: which details a case of its category still has to give."""

from __future__ import annotations

from collections.abc import Iterable

from triage.taxonomy import Category
from triage.text.entities import Entity

__all__ = ["missing_details"]

_PROMPT = {"zh": "请补充：{name}", "en": "Please add the {name}."}


def missing_details(
    category: Category, normalized_text: str, entities: Iterable[Entity], language: str
) -> list[dict]:
    """The required details of `category` not found in the case, named in `language` (zh/en).

    A detail counts as given when the text holds one of its entity types or keywords.
    """
    found = {e.type for e in entities}
    missing = []
    for detail in category.required_details:
        if found.intersection(detail.entities):
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
