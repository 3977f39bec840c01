"""The order's fields are defined once (triage/orders/data/fields.py): adding one takes that
line and one migration, and validation, the small-record path, the database, storage, the
simulator and the API's JSON Schema follow. Done here in a copy of the code."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MIGRATION = '''
"""Orders: the warehouse that ships them (the worked example of docs/ARCHITECTURE.md)."""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("warehouse", sa.String(100), nullable=False, server_default="unknown")
        )


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("warehouse")
'''

CHECK = """
import datetime as dt, sys
import pandas as pd
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
import triage
assert triage.__file__.startswith(sys.argv[1]), triage.__file__
from api.schemas.orders import openapi
from triage.config import Settings
from triage.orders.data.schema import orders_from_records, validate_orders
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.storage import OrderStore
from triage.store import Store
from triage.store_tables import metadata

store = Store(f"sqlite:///{sys.argv[1]}/triage.db")
store.migrate()
with store.engine.connect() as conn:
    assert compare_metadata(MigrationContext.configure(conn), metadata) == []
order = {"order_id": "A1", "purchased_at": "2024-11-01T10:00:00Z", "promised_date": "2024-11-05"}
small = orders_from_records([{**order, "warehouse": " HZ-3 "}])
assert small["warehouse"].tolist() == ["HZ-3"]
table = validate_orders(pd.DataFrame([{**order, "warehouse": "HZ-3"}, {**order, "order_id": "B2"}]))
assert table["warehouse"].tolist() == ["HZ-3", "unknown"]
OrderStore(store).save(table, None, dt.datetime(2024, 11, 2, tzinfo=dt.UTC))
stored, _ = OrderStore(store).tables_of(["A1", "B2"])
assert stored.sort_values("order_id")["warehouse"].tolist() == ["HZ-3", "unknown"]
assert set(simulate_marketplace(50, seed=1, days=7).orders["warehouse"]) == {"unknown"}
document = openapi(Settings.from_env({}))
field = document["components"]["schemas"]["OrderInput"]["properties"]["warehouse"]
assert field == {"type": ["string", "null"], "maxLength": 100, "description": "The warehouse that ships it."}
store.dispose()
print("ok")
"""


def test_a_new_order_field_takes_its_definition_and_one_migration(tmp_path):
    copy = tmp_path / "code"
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("triage", "api"):
        shutil.copytree(ROOT / package, copy / package, ignore=ignore)
    fields = copy / "triage" / "orders" / "data" / "fields.py"
    source = fields.read_text(encoding="utf-8")
    anchor = '    Field("distance_km", "number"),\n'
    assert anchor in source
    fields.write_text(
        source.replace(
            anchor,
            anchor
            + '    Field("warehouse", "text", description="The warehouse that ships it."),\n',
        ),
        encoding="utf-8",
    )
    versions = copy / "triage" / "migrations" / "versions"
    head = max(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py"))
    (versions / "9001_orders_warehouse.py").write_text(
        textwrap.dedent(MIGRATION).format(head=head), encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(copy)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
