"""Model directories and the model registry.

A model is a directory::

    model.joblib     the fitted estimator (joblib pickle)
    metadata.json    name, kind, version, created_at, library versions, code version, data hash,
                     params, metrics, classes, and the artifact's SHA-256
    report.md, *.png its evaluation report

The registry keeps versions under ``models/<name>/<version>/`` and a ``registry.json`` per name
with the champion (the version served) and its promotion history. Every write is atomic (a
temporary directory or file, then a rename) and the artifact's checksum and library versions are
checked before every load: joblib files are pickles, so only files the registry wrote are
loaded (see docs/RELIABILITY.md for the trust model).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib

from triage.errors import InputError, IntegrityError, ModelError, ModelNotFoundError

__all__ = [
    "check_model_name",
    "ARTIFACT",
    "METADATA",
    "LoadedModel",
    "Registry",
    "library_versions",
    "load_model_dir",
    "save_model_dir",
]

ARTIFACT = "model.joblib"
METADATA = "metadata.json"
STATE = "registry.json"
_TRACKED = ("scikit-learn", "numpy", "scipy", "joblib", "jieba", "pandas")
# libraries whose pickles must be read by the same major.minor release that wrote them
_STRICT = ("scikit-learn", "numpy", "scipy")


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model's pickle depends on."""
    versions = {"python": platform.python_version()}
    for name in _TRACKED:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            versions[name] = importlib_metadata.version(name)
    from triage import __version__

    versions["case-triage"] = __version__
    return versions


def code_version() -> str:
    """The git commit of the source tree when there is one, else the package version."""
    from triage import __version__

    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return __version__
    return (
        f"{__version__}+{out.stdout.strip()}"
        if out.returncode == 0 and out.stdout.strip()
        else __version__
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def incompatibilities(saved: dict[str, str], current: dict[str, str] | None = None) -> list[str]:
    """Libraries whose major.minor differ between a saved model and this environment."""
    current = current or library_versions()
    return [
        f"{name} {saved[name]} (now {current.get(name, 'missing')})"
        for name in _STRICT
        if name in saved and _minor(saved[name]) != _minor(current.get(name, ""))
    ]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json_atomic(path: Path, document: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, ensure_ascii=False, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def save_model_dir(
    directory: str | Path,
    model: Any,
    metadata: dict[str, Any],
    write_extras: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Write a model directory atomically: everything goes to a temporary sibling, then a rename.

    `write_extras(tmp_dir)` may add the report and plots. Refuses to replace a non-empty
    directory. Returns the metadata as written.
    """
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise InputError(f"{directory} already exists and is not empty; choose another --out")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        artifact = tmp / ARTIFACT
        joblib.dump(model, artifact, compress=3)
        with artifact.open("rb") as fh:
            os.fsync(fh.fileno())
        document = dict(metadata)
        document.setdefault("created_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        document["libraries"] = library_versions()
        document["code_version"] = code_version()
        document["artifact"] = {
            "file": ARTIFACT,
            "sha256": sha256_file(artifact),
            "bytes": artifact.stat().st_size,
        }
        if write_extras is not None:
            write_extras(tmp)
        _write_json_atomic(tmp / METADATA, document)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.rename(tmp, directory)
        _fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return document


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """metadata.json of a model directory."""
    path = Path(directory) / METADATA
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotFoundError(f"{directory} is not a model directory (no {METADATA})") from None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path}: unreadable metadata ({exc})") from None


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded and verified, with its metadata."""

    model: Any
    metadata: dict[str, Any]
    path: Path

    @property
    def name(self) -> str:
        return self.metadata.get("name", self.path.name)

    @property
    def version(self) -> str:
        return self.metadata.get("version", self.path.name)


def check_model_name(name: str) -> str:
    """`name` if it can name a model (letters, digits, - and _), else an `InputError`; commands
    call it before a long training run, not after."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"invalid model name {name!r}: use letters, digits, - and _")
    return name


# a version id or an artifact file name: one plain name, never a path (no separators, no '..')
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def load_model_dir(directory: str | Path) -> LoadedModel:
    """Load a model directory after checking its checksum and library versions."""
    directory = Path(directory)
    metadata = read_metadata(directory)
    name = str(metadata.get("artifact", {}).get("file", ARTIFACT))
    if not _VERSION.fullmatch(name):  # a plain file name in this folder, never a path
        raise IntegrityError(
            f"{directory}: metadata.json names the artifact {name!r}, not a file here"
        )
    artifact = directory / name
    expected = metadata.get("artifact", {}).get("sha256")
    if not artifact.is_file():
        raise IntegrityError(f"{directory}: artifact {artifact.name} is missing")
    if not expected or sha256_file(artifact) != expected:
        raise IntegrityError(
            f"{artifact}: SHA-256 does not match metadata.json; the file was changed or corrupted. "
            "Retrain or restore the model; it will not be loaded."
        )
    problems = incompatibilities(metadata.get("libraries", {}))
    if problems:
        raise IntegrityError(
            f"{directory} was trained with {', '.join(problems)}; retrain it in this environment "
            "or install the versions it was trained with."
        )
    try:
        try:
            model = joblib.load(artifact)
        except ModuleNotFoundError as exc:
            if exc.name not in MOVED_MODULES:
                raise
            _alias_moved_modules()  # an artifact pickled before the modules moved
            model = joblib.load(artifact)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable artifact
        raise IntegrityError(
            f"{artifact}: cannot be loaded ({type(exc).__name__}: {exc})"
        ) from None
    return LoadedModel(model=model, metadata=metadata, path=directory)


#: modules that moved when triage/orders was split into data, risk and suggestions
#: (docs/ARCHITECTURE.md): models saved before name the old paths in their pickles
MOVED_MODULES = {
    **{f"triage.orders.{m}": f"triage.orders.data.{m}" for m in ("schema", "records", "olist")},
    **{f"triage.orders.{m}": f"triage.orders.data.{m}" for m in ("simulator",)},
    **{
        f"triage.orders.{m}": f"triage.orders.risk.{m}"
        for m in (
            "baseline",
            "features",
            "history",
            "history_cache",
            "model",
            "reasons",
            "scoring",
            "snapshots",
            "training",
        )
    },
}


def _alias_moved_modules() -> None:
    """Let the old module paths of `MOVED_MODULES` name the modules they moved to."""
    import importlib

    for old, new in MOVED_MODULES.items():
        sys.modules.setdefault(old, importlib.import_module(new))


def new_version() -> str:
    """A sortable, unique version id: UTC time to the second, then the microseconds (5 hex
    digits, so that two versions of one second sort in the order they were made) and 3 random
    hex digits."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{now.microsecond:05x}{uuid.uuid4().hex[:3]}"


class Registry:
    """Versions of named models under one root folder, with a champion per name.

    >>> registry = Registry("models")                 # doctest: +SKIP
    >>> version = registry.add("cases", trained_dir)  # doctest: +SKIP
    >>> registry.promote("cases", version)            # doctest: +SKIP
    >>> registry.load("cases").version == version     # doctest: +SKIP
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- state -------------------------------------------------------------------------
    def _name_dir(self, name: str) -> Path:
        return self.root / check_model_name(name)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[Path]:
        folder = self._name_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def state(self, name: str) -> dict[str, Any]:
        """registry.json of `name`: champion, history and rejected versions."""
        path = self._name_dir(name) / STATE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"champion": None, "history": [], "rejected": {}}
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{path}: unreadable registry state ({exc})") from None
        state.setdefault("history", [])
        state.setdefault("rejected", {})
        return state

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Metadata of every complete version of `name`, oldest first, with its status."""
        folder = self._name_dir(name)
        if not folder.is_dir():
            return []
        state = self.state(name)
        out = []
        for path in sorted(folder.iterdir()):
            if not path.is_dir() or path.name.startswith(".") or not (path / METADATA).is_file():
                continue
            meta = read_metadata(path)
            meta["status"] = (
                "champion"
                if path.name == state["champion"]
                else "rejected"
                if path.name in state["rejected"]
                else "available"
            )
            if path.name in state["rejected"]:
                meta["rejected_reason"] = state["rejected"][path.name]
            out.append(meta)
        return out

    def champion(self, name: str) -> str | None:
        return self.state(name)["champion"]

    def stamp(self, name: str) -> tuple[int, int, int] | None:
        """A cheap fingerprint of `name`'s registry.json (one ``stat``), None when there is none.

        Every promotion, rollback or rejection replaces the file (a new inode and mtime), so a
        server can poll this to notice a change of champion without reading the state.
        """
        try:
            info = (self._name_dir(name) / STATE).stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def path(self, name: str, version: str) -> Path:
        if not _VERSION.fullmatch(version):
            raise InputError(f"invalid version {version!r}")
        path = self._name_dir(name) / version
        if not (path / METADATA).is_file():
            raise ModelNotFoundError(f"no version {version} of model {name!r} in {self.root}")
        return path

    # -- changes -----------------------------------------------------------------------
    def create(
        self,
        name: str,
        model: Any,
        metadata: dict[str, Any],
        write_extras: Callable[[Path], None] | None = None,
    ) -> str:
        """Save a new version of `name` (not promoted) and return its version id."""
        version = new_version()
        folder = self._name_dir(name)
        save_model_dir(
            folder / version, model, {**metadata, "name": name, "version": version}, write_extras
        )
        return version

    def promote(self, name: str, version: str, reason: str = "promoted") -> None:
        """Make `version` the champion of `name`; recorded in the history."""
        self.path(name, version)
        load_model_dir(self.path(name, version))  # refuse to promote what cannot be served
        with self._locked(name) as folder:
            state = self.state(name)
            state["champion"] = version
            state["rejected"].pop(version, None)
            state["history"].append(
                {
                    "version": version,
                    "action": reason,
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
            _write_json_atomic(folder / STATE, state)

    def reject(self, name: str, version: str, reason: str) -> None:
        """Keep `version` but mark it rejected, with the reason."""
        self.path(name, version)
        with self._locked(name) as folder:
            state = self.state(name)
            state["rejected"][version] = reason
            _write_json_atomic(folder / STATE, state)

    def rollback(self, name: str, note: str = "") -> str:
        """Make the champion before the current one the champion again; returns it.

        `note` (who or what asked for it, say) is appended to the history entry.
        """
        with self._locked(name) as folder:
            state = self.state(name)
            current = state["champion"]
            if current is None:
                raise ModelNotFoundError(f"model {name!r} has no champion to roll back from")
            previous = None
            for entry in reversed(state["history"]):
                if entry["version"] != current and (folder / entry["version"] / METADATA).is_file():
                    previous = entry["version"]
                    break
            if previous is None:
                raise ModelError(f"model {name!r} has no earlier champion to roll back to")
            load_model_dir(folder / previous)
            state["champion"] = previous
            state["history"].append(
                {
                    "version": previous,
                    "action": f"rollback from {current}" + (f" ({note})" if note else ""),
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
            _write_json_atomic(folder / STATE, state)
            return previous

    def load(self, name: str, version: str | None = None) -> LoadedModel:
        """Load `version`, or the champion, after the integrity checks."""
        version = version or self.champion(name)
        if version is None:
            raise ModelNotFoundError(
                f"model {name!r} has no champion in {self.root}; train one (make run does it)"
            )
        return load_model_dir(self.path(name, version))
