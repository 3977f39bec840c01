"""case-triage: triage of marketplace support cases.

The library has no import-time side effects: nothing reads configuration, files or the
environment until a function is called.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
