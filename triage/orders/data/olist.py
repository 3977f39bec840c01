"""Adapter from the public Olist tables to the canonical order and event schema.

Only ``orders.csv`` is required (order_id, order_purchase_timestamp,
order_estimated_delivery_date); ``order_items.csv``, ``customers.csv``, ``products.csv``
(or ``products_all.csv``), ``sellers.csv`` and ``product_category_name_translation.csv`` add
seller, regions, distance, parcel and price when present. Every id is read as text.

Olist has no tracking events, only dates; the events they imply are derived so that the same
feature code serves both sources:

    order_approved_at              -> label_created  (the seller can start)
    order_delivered_carrier_date   -> picked_up      (the carrier hand-over)
    order_delivered_customer_date  -> delivered      (also delivered_at, the outcome)

The promise is ``order_estimated_delivery_date``. ``order_status`` is used for one thing only:
orders ``canceled`` or ``unavailable`` carry no label. Neither it nor the delivery date is ever
a feature (the feature code reads deliveries only through "known at" times). Olist times are
Brazilian local times; they are kept as they are and labelled UTC, which shifts every time by
the same few hours and changes no comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage.errors import DataFileError
from triage.orders.data.schema import to_utc, validate_events, validate_orders

__all__ = ["OlistData", "load_olist"]

# capitals of the Brazilian states (latitude, longitude): distance between seller and buyer
STATE_CENTERS = {
    "AC": (-9.97, -67.81),
    "AL": (-9.67, -35.74),
    "AP": (0.03, -51.07),
    "AM": (-3.12, -60.02),
    "BA": (-12.97, -38.51),
    "CE": (-3.72, -38.54),
    "DF": (-15.79, -47.88),
    "ES": (-20.32, -40.34),
    "GO": (-16.69, -49.25),
    "MA": (-2.53, -44.30),
    "MT": (-15.60, -56.10),
    "MS": (-20.47, -54.62),
    "MG": (-19.92, -43.94),
    "PA": (-1.46, -48.50),
    "PB": (-7.12, -34.86),
    "PR": (-25.43, -49.27),
    "PE": (-8.05, -34.88),
    "PI": (-5.09, -42.80),
    "RJ": (-22.91, -43.17),
    "RN": (-5.79, -35.21),
    "RS": (-30.03, -51.23),
    "RO": (-8.76, -63.90),
    "RR": (2.82, -60.67),
    "SC": (-27.59, -48.55),
    "SP": (-23.55, -46.63),
    "SE": (-10.91, -37.07),
    "TO": (-10.18, -48.33),
}
REQUIRED = ("order_id", "order_purchase_timestamp", "order_estimated_delivery_date")
NO_LABEL_STATUSES = ("canceled", "unavailable")


@dataclass(frozen=True)
class OlistData:
    """Canonical `orders` and `events`, the optional tables used, and notes on repairs."""

    orders: pd.DataFrame
    events: pd.DataFrame
    tables: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: the file is empty") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path}: cannot read as CSV: {first}") from None


def _optional(directory: Path, *names: str) -> pd.DataFrame | None:
    for name in names:
        if (directory / name).is_file():
            return _read(directory / name)
    return None


def _distance(origin: pd.Series, dest: pd.Series) -> np.ndarray:
    a = np.array([STATE_CENTERS.get(s, (np.nan, np.nan)) for s in origin], dtype=float).reshape(
        -1, 2
    )
    b = np.array([STATE_CENTERS.get(s, (np.nan, np.nan)) for s in dest], dtype=float).reshape(-1, 2)
    lat1, lon1, lat2, lon2 = map(np.radians, (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return np.round(6371.0 * 2 * np.arcsin(np.sqrt(h)), 1)


def load_olist(directory: str | Path) -> OlistData:
    """Read an Olist folder into canonical tables; raises `DataFileError` on unusable input."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFileError(f"{directory}: no such folder")
    if not (directory / "orders.csv").is_file():
        raise DataFileError(f"{directory}: orders.csv not found (the one required Olist table)")
    raw = _read(directory / "orders.csv")
    where = str(directory / "orders.csv")
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataFileError(f"{where}: missing column(s) {', '.join(missing)}")
    if raw.empty:
        raise DataFileError(f"{where}: no rows")
    notes: list[str] = []
    tables = ["orders"]
    times = {
        c: to_utc(raw[c], where=where, column=c, frame=raw)
        if c in raw.columns
        else pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
        for c in (
            "order_purchase_timestamp",
            "order_approved_at",
            "order_delivered_carrier_date",
            "order_delivered_customer_date",
            "order_estimated_delivery_date",
        )
    }
    purchased = times["order_purchase_timestamp"]
    delivered = times["order_delivered_customer_date"]
    bad_delivery = delivered < purchased
    if bad_delivery.any():
        notes.append(f"{int(bad_delivery.sum())} delivery date(s) before the purchase dropped")
        delivered = delivered.where(~bad_delivery)
    status = raw["order_status"].str.strip().str.lower() if "order_status" in raw.columns else None
    orders = pd.DataFrame(
        {
            "order_id": raw["order_id"],
            "purchased_at": purchased,
            "promised_date": times["order_estimated_delivery_date"],
            "delivered_at": delivered,
            "canceled": status.isin(NO_LABEL_STATUSES) if status is not None else False,
        }
    )

    customers = _optional(directory, "customers.csv")
    if (
        customers is not None
        and "customer_id" in raw.columns
        and "customer_state" in customers.columns
    ):
        tables.append("customers")
        state = customers.drop_duplicates("customer_id").set_index("customer_id")["customer_state"]
        orders["buyer_region"] = raw["customer_id"].map(state)

    items = _optional(directory, "order_items.csv")
    if items is not None and {"order_id", "seller_id"} <= set(items.columns):
        tables.append("order_items")
        items = items.copy()
        for column in ("price", "freight_value"):
            items[column] = pd.to_numeric(items.get(column), errors="coerce")
        products = _optional(directory, "products.csv", "products_all.csv")
        if products is not None and "product_id" in items.columns:
            tables.append("products")
            products = products.drop_duplicates("product_id").set_index("product_id")
            items["weight_kg"] = (
                pd.to_numeric(
                    items["product_id"].map(products.get("product_weight_g")), errors="coerce"
                )
                / 1000
            )
            category = items["product_id"].map(products.get("product_category_name"))
            translation = _optional(directory, "product_category_name_translation.csv")
            if translation is not None and {
                "product_category_name",
                "product_category_name_english",
            } <= set(translation.columns):
                english = translation.set_index("product_category_name")[
                    "product_category_name_english"
                ]
                category = category.map(english).fillna(category)
            items["category"] = category
        grouped = items.groupby("order_id", sort=False)
        per_order = pd.DataFrame(
            {
                "seller_id": grouped["seller_id"].first(),
                "n_items": grouped.size(),
                "price": grouped["price"].sum(min_count=1),
                "freight": grouped["freight_value"].sum(min_count=1),
            }
        )
        if "shipping_limit_date" in items.columns:
            limit = to_utc(
                items["shipping_limit_date"],
                where="order_items.csv",
                column="shipping_limit_date",
                frame=items,
            )
            per_order["ship_by"] = limit.groupby(items["order_id"]).min()
        if "weight_kg" in items.columns:
            per_order["weight_kg"] = grouped["weight_kg"].sum(min_count=1)
            per_order["category"] = grouped["category"].first()
        sellers = _optional(directory, "sellers.csv")
        if sellers is not None and "seller_state" in sellers.columns:
            tables.append("sellers")
            seller_state = sellers.drop_duplicates("seller_id").set_index("seller_id")[
                "seller_state"
            ]
            per_order["seller_region"] = per_order["seller_id"].map(seller_state)
        orders = orders.join(per_order, on="order_id")
        if "ship_by" in orders.columns:
            orders["ship_by"] = orders["ship_by"].where(orders["ship_by"] >= orders["purchased_at"])
    if "seller_region" in orders.columns and "buyer_region" in orders.columns:
        orders["distance_km"] = _distance(
            orders["seller_region"].fillna(""), orders["buyer_region"].fillna("")
        )
    orders = validate_orders(orders, where=where)

    # derived events; times before the purchase (data errors) are moved to the purchase time
    parts = []
    for column, kind, location in (
        ("order_approved_at", "label_created", "seller_region"),
        ("order_delivered_carrier_date", "picked_up", "seller_region"),
        ("order_delivered_customer_date", "delivered", "buyer_region"),
    ):
        when = delivered if kind == "delivered" else times[column]
        early = when < purchased
        if early.any():
            notes.append(
                f"{int(early.sum())} {column} value(s) before the purchase set to the purchase time"
            )
            when = when.mask(early, purchased)
        present = when.notna().to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "order_id": orders["order_id"].to_numpy()[present],
                    "time": when[present].reset_index(drop=True),
                    "event_type": kind,
                    "location": orders[location].to_numpy()[present],
                }
            )
        )
    events = validate_events(
        pd.concat(parts, ignore_index=True), orders["order_id"], where="olist events"
    )
    return OlistData(orders=orders, events=events, tables=tuple(tables), notes=notes)
