"""The exceptions of case-triage, in one small tree.

    TriageError                      base of everything raised on purpose
    ├── InputError (ValueError)      bad user input: files, columns, texts, request fields
    │   ├── DataFileError            a data file that is missing, unreadable or of the wrong shape
    │   └── ConflictError            the record's state forbids the change (a suggestion that
    │                                was already accepted or dismissed)
    ├── NotFoundError (LookupError)  no such record: a suggestion, an order, a prediction
    ├── ConfigError                  invalid settings or taxonomy
    ├── ModelError                   a model that cannot be trained, found or loaded
    │   ├── NotFittedError           predict before fit (also a ValueError and AttributeError,
    │   │                            like scikit-learn's)
    │   ├── ModelNotFoundError       no such model name or version in the registry (also a
    │   │                            NotFoundError)
    │   └── IntegrityError           checksum mismatch or incompatible library versions
    ├── StoreError                   the database is unavailable or refused a write
    └── ClusterError                 a Dask scheduler that cannot be reached, or a partition
                                     of a distributed job that failed (triage/scale/)

Library code raises these; the HTTP layer (api/errors.py) and the command line (triage/cli.py)
map them to a status code or an exit code in one place each.
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "ConfigError",
    "ConflictError",
    "DataFileError",
    "InputError",
    "IntegrityError",
    "ModelError",
    "ModelNotFoundError",
    "NotFittedError",
    "NotFoundError",
    "StoreError",
    "TriageError",
]


class TriageError(Exception):
    """Base class of every error case-triage raises on purpose."""


class InputError(TriageError, ValueError):
    """The caller gave input that cannot be used; the message says which and why."""


class DataFileError(InputError):
    """A data file is missing, unreadable, of an unknown format or lacks a column."""


class ConflictError(InputError):
    """The record exists but its state forbids the change (it was decided already)."""


class NotFoundError(TriageError, LookupError):
    """The record asked for does not exist."""


class ConfigError(TriageError):
    """Settings or the taxonomy are invalid."""


class ModelError(TriageError):
    """A model cannot be trained, found or loaded."""


class NotFittedError(ModelError, ValueError, AttributeError):
    """An estimator was used before `fit`."""


class ModelNotFoundError(ModelError, NotFoundError):
    """No model of that name or version is registered."""


class IntegrityError(ModelError):
    """An artifact's checksum does not match, or it was written by incompatible libraries."""


class StoreError(TriageError):
    """The database is unavailable, locked or refused a write."""


class ClusterError(TriageError):
    """A distributed job could not run: no scheduler there, or one of its partitions failed
    (the message names the partition)."""
