"""Package exports imported on first use (PEP 562), so that importing a package is cheap.

    __getattr__, __dir__ = lazy_exports(__name__, {"CaseRouter": "triage.cases.router"})

A package that names its public objects this way can be imported by the ``triage`` command
(whose ``--help`` must answer at once) without loading scikit-learn, pandas or SQLAlchemy.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of `package`, which exports each name of `exports`
    from the module it maps to; a name is imported once, then cached in the package."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
