"""The case taxonomy: categories with bilingual names, owning team and required details.

    >>> taxonomy = load_taxonomy()
    >>> taxonomy["shipping_delay"].name("zh")
    '物流延误'

The default lives in data/taxonomy.yaml; `Settings.taxonomy_path` (``TRIAGE_TAXONOMY_PATH``)
points at another file of the same shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from triage.errors import ConfigError
from triage.text.entities import ENTITY_TYPES

__all__ = ["Category", "RequiredDetail", "Taxonomy", "load_taxonomy"]

#: libyaml's safe loader when PyYAML has it (its wheels do): ten times faster than the pure-Python
#: one, and every app, test and worker reads the taxonomy (about 0.06 s a read without it)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class RequiredDetail:
    """A detail a good case must give, found by entity type or keyword."""

    id: str
    name_zh: str
    name_en: str
    entities: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name_zh": self.name_zh, "name_en": self.name_en}


@dataclass(frozen=True)
class Category:
    """One routing target."""

    id: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    team: str
    filers: tuple[str, ...] = ()
    required_details: tuple[RequiredDetail, ...] = field(default_factory=tuple)

    def name(self, language: str) -> str:
        return self.name_zh if language == "zh" else self.name_en

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "description_zh": self.description_zh,
            "description_en": self.description_en,
            "team": self.team,
            "filers": list(self.filers),
            "required_details": [d.to_dict() for d in self.required_details],
        }


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of categories, looked up by id."""

    categories: tuple[Category, ...]
    version: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.categories})

    def __getitem__(self, category_id: str) -> Category:
        return self._by_id[category_id]  # type: ignore[attr-defined]

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.categories]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "categories": [c.to_dict() for c in self.categories]}


def _text(raw: dict, key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _strings(raw: dict, key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _detail(raw: Any, where: str) -> RequiredDetail:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a required detail must be a mapping")
    detail = RequiredDetail(
        id=_text(raw, "id", where),
        name_zh=_text(raw, "name_zh", where),
        name_en=_text(raw, "name_en", where),
        entities=_strings(raw, "entities", where),
        keywords=tuple(k.lower() for k in _strings(raw, "keywords", where)),
    )
    unknown = set(detail.entities) - set(ENTITY_TYPES)
    if unknown:
        raise ConfigError(
            f"{where}: unknown entity types {sorted(unknown)}; known: {list(ENTITY_TYPES)}"
        )
    return detail


def _category(raw: Any, where: str) -> Category:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a category must be a mapping")
    cid = _text(raw, "id", where)
    if not _ID.match(cid):
        raise ConfigError(f"{where}: id {cid!r} must be lower-case letters, digits and _")
    where = f"{where} ({cid})"
    details = raw.get("required_details") or []
    if not isinstance(details, list):
        raise ConfigError(f"{where}: 'required_details' must be a list")
    return Category(
        id=cid,
        name_zh=_text(raw, "name_zh", where),
        name_en=_text(raw, "name_en", where),
        description_zh=_text(raw, "description_zh", where),
        description_en=_text(raw, "description_en", where),
        team=_text(raw, "team", where),
        filers=_strings(raw, "filers", where),
        required_details=tuple(_detail(d, f"{where} detail {i}") for i, d in enumerate(details)),
    )


def parse_taxonomy(document: Any, source: str = "<taxonomy>") -> Taxonomy:
    """Validate a parsed taxonomy document and build the `Taxonomy`."""
    if not isinstance(document, dict) or not isinstance(document.get("categories"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'categories' list")
    categories = tuple(
        _category(raw, f"{source}: category {i}") for i, raw in enumerate(document["categories"])
    )
    if len(categories) < 2:
        raise ConfigError(f"{source}: a taxonomy needs at least two categories")
    ids = [c.id for c in categories]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{source}: duplicate category ids {duplicates}")
    version = document.get("version", 1)
    if not isinstance(version, int):
        raise ConfigError(f"{source}: 'version' must be an integer")
    return Taxonomy(categories=categories, version=version, source=source)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (data/taxonomy.yaml by default)."""
    if path is None:
        from triage.config import Settings

        path = Settings.from_env().taxonomy_path
    path = Path(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"taxonomy file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read taxonomy {path}: {exc}") from None
    return parse_taxonomy(document, str(path))
