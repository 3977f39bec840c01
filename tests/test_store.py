"""The service database: migrations, the prediction log, feedback, keys and rate counters."""

import datetime as dt
import sqlite3

import pytest
import sqlalchemy as sa

from triage.config import Settings
from triage.errors import InputError, StoreError
from triage.keys import hash_token, issue_token, parse_token, role_allows, verify_token
from triage.store import PredictionRecord, Store, utcnow


def record(pid, **kw):
    values = dict(
        id=pid,
        created_at=utcnow(),
        text="text",
        language="en",
        category="other",
        confidence=0.5,
        needs_review=False,
        model_name="cases",
        model_version="v1",
    )
    return PredictionRecord(**{**values, **kw})


def test_default_database_is_sqlite_in_wal_mode_under_data_dir(tmp_path):
    settings = Settings.from_env({"data_dir": tmp_path / "var"})
    store = Store.from_settings(settings)
    assert store.current_revision() is None
    assert store.migrate() == store.head_revision() == store.current_revision()
    assert (tmp_path / "var" / "triage.db").is_file()
    with sqlite3.connect(tmp_path / "var" / "triage.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"api_keys", "api_key_usage", "predictions", "feedback", "alembic_version"} <= tables


def test_migrate_is_idempotent_and_upgrades_an_old_schema(tmp_path, store):
    assert store.migrate() == store.head_revision()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'missing'")
    assert not store.is_current()


def test_any_sqlalchemy_url(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    store.migrate()
    store.log_predictions([record("p1")])
    assert store.get_prediction("p1")["category"] == "other"
    memory = Store("sqlite://")
    memory.migrate()
    memory.log_predictions([record("p2")])
    assert memory.get_prediction("p2") is not None


@pytest.mark.parametrize("url", ("not a url", "nosuchdb://x/y"))
def test_bad_url_is_a_store_error(url):
    with pytest.raises(StoreError):
        Store(url).ping()


def test_unreachable_database_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the database folder"):
        Store(f"sqlite:///{blocker / 'sub' / 'x.db'}")  # a file where a folder should be
    locked = tmp_path / "ro"
    locked.mkdir()
    (locked / "x.db").write_bytes(b"this is not an SQLite database, just bytes" * 100)
    with pytest.raises(StoreError, match="unavailable|cannot"):
        Store(f"sqlite:///{locked / 'x.db'}").migrate()


def test_batch_is_all_or_nothing(store):
    with pytest.raises(StoreError):
        store.log_predictions([record("a"), record("b"), record("a")])
    assert store.list_predictions() == []
    store.log_predictions([record("a"), record("b")])
    assert {p["id"] for p in store.list_predictions()} == {"a", "b"}


def test_times_are_aware_utc_and_naive_times_are_refused(store):
    store.log_predictions([record("a")])
    assert store.get_prediction("a")["created_at"].tzinfo == dt.UTC
    with pytest.raises(StoreError):
        store.log_predictions([record("b", created_at=dt.datetime(2026, 1, 1))])


def test_feedback_needs_an_existing_prediction(store):
    assert store.add_feedback("nope", "other", None) is None
    store.log_predictions([record("a", category="other")])
    row = store.add_feedback("a", "not_received", "note", key_id=None)
    assert row["predicted_category"] == "other"
    [correction] = store.corrections()
    assert correction["category"] == "not_received" and correction["text"] == "text"


def test_list_predictions_pages(store):
    base = utcnow()
    store.log_predictions(
        [record(f"p{i}", created_at=base + dt.timedelta(seconds=i)) for i in range(5)]
    )
    page = store.list_predictions(limit=2)
    assert [p["id"] for p in page] == ["p4", "p3"]
    rest = store.list_predictions(limit=10, before=page[-1]["created_at"])
    assert [p["id"] for p in rest] == ["p2", "p1", "p0"]


def test_keys_create_authenticate_revoke(store):
    record_, token = store.create_key("analyst", "notebook")
    assert parse_token(token) == record_.id and record_.role == "analyst"
    assert store.authenticate(record_.id, token).id == record_.id
    assert store.authenticate(record_.id, token + "x") is None
    assert store.has_active_key("analyst") and not store.has_active_key("admin")
    assert store.revoke_key(record_.id) and not store.revoke_key(record_.id)
    assert store.authenticate(record_.id, token) is None
    assert store.list_keys()[0].revoked_at is not None
    with pytest.raises(InputError, match="unknown role"):
        store.create_key("root")


def test_rate_counter_windows(store):
    key = store.create_key("predict")[0].id
    assert [store.count_request(key, 60) for _ in range(3)] == [1, 2, 3]
    assert store.count_request(key, 120) == 1
    with store.engine.connect() as conn:
        windows = conn.execute(sa.text("SELECT window_start FROM api_key_usage")).all()
    assert windows == [(120,)]  # the old window is dropped


def test_concurrent_writers_lose_nothing(tmp_path):
    """Writers on separate connection pools (as in separate workers) at once: nothing is lost."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path / 'c.db'}"
    Store(url).migrate()
    stores = [Store(url), Store(url)]
    key = stores[0].create_key("predict")[0].id

    def write(i):
        stores[i % 2].log_predictions([record(f"r{i}-{j}") for j in range(5)])
        stores[i % 2].count_request(key, 60)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(40)))
    assert len(stores[0].list_predictions(limit=1000)) == 200
    assert stores[1].count_request(key, 60) == 41


def test_tokens():
    issued = issue_token()
    assert issued.token.startswith(f"ctk_{issued.key_id}_") and len(issued.token) == 60
    assert issued.token_hash == hash_token(issued.token) and len(issued.token_hash) == 64
    assert verify_token(issued.token, issued.token_hash)
    assert not verify_token(issued.token[:-1] + "?", issued.token_hash)
    assert parse_token("ctk_short") is None and parse_token("Bearer x") is None
    assert issue_token().token != issued.token


@pytest.mark.parametrize(
    ("granted", "required", "allowed"),
    (
        ("predict", "predict", True),
        ("predict", "analyst", False),
        ("analyst", "predict", True),
        ("analyst", "admin", False),
        ("admin", "analyst", True),
    ),
)
def test_role_order(granted, required, allowed):
    assert role_allows(granted, required) is allowed


def test_schema_and_rate_upsert_compile_for_postgresql():
    """The PostgreSQL path cannot run here (no server); its SQL must at least compile."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from triage.store_tables import metadata, upsert_count

    dialect = postgresql.dialect()
    for table in metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=dialect))
    upsert = str(upsert_count("postgresql").compile(dialect=dialect))
    assert "ON CONFLICT (key_id, window_start) DO UPDATE" in upsert and "RETURNING" in upsert


def test_migrations_build_exactly_the_tables_of_the_code(store):
    """A change to triage/store_tables.py without its migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from triage.store_tables import metadata

    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


@pytest.mark.empty_database
@pytest.mark.parametrize("start", ("0001", "0002"))
def test_migrations_from_each_earlier_revision_reach_the_tables_of_the_code(database_url, start):
    """A database left at an earlier revision (a service not upgraded yet) migrates to exactly
    the schema of the code, on SQLite and on PostgreSQL."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from triage.store_tables import metadata

    store = Store(database_url)
    with store.engine.connect() as conn:
        command.upgrade(store._alembic_config(conn), start)
        conn.commit()
    assert store.current_revision() == start and not store.is_current()
    assert store.migrate() == store.head_revision() == store.current_revision()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    store.dispose()
