"""The Olist adapter on a tiny Olist-shaped folder: orders table alone, and with the other tables."""

import pandas as pd
import pytest

from tests.conftest import DATASETS, needs_datasets
from triage.errors import DataFileError
from triage.orders.data.olist import load_olist

ORDERS = """order_id,customer_id,order_status,order_purchase_timestamp,order_approved_at,order_delivered_carrier_date,order_delivered_customer_date,order_estimated_delivery_date
000a1,c01,delivered,2017-03-01 10:00:00,2017-03-01 11:00:00,2017-03-03 15:00:00,2017-03-10 12:00:00,2017-03-20 00:00:00
000a2,c02,delivered,2017-03-02 09:00:00,2017-03-02 09:30:00,2017-03-06 10:00:00,2017-03-25 16:00:00,2017-03-22 00:00:00
000a3,c03,canceled,2017-03-03 08:00:00,2017-03-03 08:10:00,,,2017-03-28 00:00:00
000a4,c04,shipped,2017-03-04 08:00:00,2017-03-04 07:00:00,2017-03-05 08:00:00,,2017-03-30 00:00:00
"""
ITEMS = """order_id,order_item_id,product_id,seller_id,shipping_limit_date,price,freight_value
000a1,1,p1,0s1,2017-03-03 10:00:00,100.0,10.0
000a1,2,p2,0s1,2017-03-03 10:00:00,50.0,5.0
000a2,1,p2,0s2,2017-03-04 09:00:00,50.0,20.0
"""
CUSTOMERS = """customer_id,customer_unique_id,customer_zip_code_prefix,customer_city,customer_state
c01,u1,01001,sao paulo,SP
c02,u2,69000,manaus,AM
c03,u3,20000,rio de janeiro,RJ
"""
SELLERS = """seller_id,seller_zip_code_prefix,seller_city,seller_state
0s1,01002,sao paulo,SP
0s2,13000,campinas,SP
"""
PRODUCTS = """product_id,product_category_name,product_weight_g
p1,beleza_saude,1500
p2,informatica_acessorios,250
"""
TRANSLATION = """product_category_name,product_category_name_english
beleza_saude,health_beauty
"""


@pytest.fixture
def olist_dir(tmp_path):
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    return tmp_path


def test_orders_table_alone(olist_dir):
    data = load_olist(olist_dir)
    orders, events = data.orders, data.events
    assert data.tables == ("orders",)
    assert orders["order_id"].tolist() == ["000a1", "000a2", "000a3", "000a4"]  # text ids
    assert orders["canceled"].tolist() == [False, False, True, False]
    assert orders["promised_date"].iloc[0] == pd.Timestamp("2017-03-20", tz="UTC")
    assert orders["delivered_at"].iloc[1] == pd.Timestamp("2017-03-25 16:00", tz="UTC")
    assert set(orders["seller_id"]) == {"unknown"} and orders["distance_km"].isna().all()
    kinds = events.groupby("order_id")["event_type"].apply(list).to_dict()
    assert kinds["000a1"] == ["label_created", "picked_up", "delivered"]
    assert kinds["000a3"] == ["label_created"]
    # an approval before the purchase (a data error) is moved to the purchase time, and said so
    a4 = events[(events["order_id"] == "000a4") & (events["event_type"] == "label_created")]
    assert a4["time"].iloc[0] == pd.Timestamp("2017-03-04 08:00", tz="UTC")
    assert any("order_approved_at" in note for note in data.notes)


def test_with_items_customers_sellers_products(olist_dir):
    for name, text in (
        ("order_items.csv", ITEMS),
        ("customers.csv", CUSTOMERS),
        ("sellers.csv", SELLERS),
        ("products.csv", PRODUCTS),
        ("product_category_name_translation.csv", TRANSLATION),
    ):
        (olist_dir / name).write_text(text, encoding="utf-8")
    data = load_olist(olist_dir)
    orders = data.orders.set_index("order_id")
    assert data.tables == ("orders", "customers", "order_items", "products", "sellers")
    assert orders.loc["000a1", "seller_id"] == "0s1"  # leading zero kept
    assert orders.loc["000a1", "n_items"] == 2
    assert orders.loc["000a1", "price"] == 150.0 and orders.loc["000a1", "freight"] == 15.0
    assert orders.loc["000a1", "weight_kg"] == pytest.approx(1.75)
    assert orders.loc["000a1", "category"] == "health_beauty"
    assert orders.loc["000a2", "category"] == "informatica_acessorios"  # untranslated kept
    assert orders.loc["000a2", ["seller_region", "buyer_region"]].tolist() == ["SP", "AM"]
    assert orders.loc["000a2", "distance_km"] > 2500  # Sao Paulo to Manaus
    assert orders.loc["000a1", "ship_by"] == pd.Timestamp("2017-03-03 10:00", tz="UTC")
    assert orders.loc["000a4", "seller_id"] == "unknown"  # no items for it
    assert orders.loc["000a3", "buyer_region"] == "RJ"


def test_unusable_folders_raise_clear_errors(tmp_path):
    with pytest.raises(DataFileError, match="no such folder"):
        load_olist(tmp_path / "missing")
    with pytest.raises(DataFileError, match="orders.csv not found"):
        load_olist(tmp_path)
    (tmp_path / "orders.csv").write_text(
        "order_id,order_purchase_timestamp\n1,2017-01-01\n", encoding="utf-8"
    )
    with pytest.raises(DataFileError, match="missing column.*order_estimated_delivery_date"):
        load_olist(tmp_path)


@pytest.mark.datasets
@needs_datasets("olist", "orders.csv")
def test_real_olist_folder_maps_every_order():
    data = load_olist(DATASETS / "olist")
    assert len(data.orders) == 10_053
    assert data.orders["order_id"].is_unique
    assert (data.orders["seller_id"] != "unknown").mean() > 0.9
    assert set(data.events["event_type"]) == {"label_created", "picked_up", "delivered"}
