"""A seeded marketplace simulator: orders and tracking events whose lateness has causes.

Nothing here draws a "late" label. Each order goes through the same mechanics, and it is late
only when they add up past the date the platform promised:

- **sellers** have their own handling time, a chance of a long slip, and some do not work on
  weekends; the platform promises from a nominal handling time, not the seller's real one;
- **carriers** have their own speed, spread, pickup days, scan habits, loss rate and peak
  capacity; each carrier has its own reliability on each destination region (the **lane**);
- **distance** between the seller's and the buyer's region sets the nominal transit time;
- **weekends** stop pickups and deliveries of some carriers and the work of some sellers;
- **peak seasons** (11.11, 12.12, the run-up to the Spring Festival) raise the order volume,
  and volume beyond a carrier's capacity slows its transit (congestion);
- **disruptions**: storms close a region for a few days (pickups wait, parcels through it
  stall) and strikes halt one carrier; both also leave ``exception`` events behind.

>>> sim = simulate_marketplace(2_000, seed=7)
>>> sorted(sim.orders.columns) == sorted(ORDER_COLUMNS)
True

`simulate_marketplace(100_000)` takes a few seconds (see docs/BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.errors import InputError
from triage.orders.data.fields import ORDER_COLUMNS  # noqa: F401 (the doctest names it)
from triage.orders.data.schema import with_every_field

__all__ = ["CARRIERS", "REGIONS", "Simulation", "simulate_marketplace"]

# region code: (name, latitude, longitude, share of buyers, share of sellers)
REGIONS: dict[str, tuple[str, float, float, float, float]] = {
    "SH": ("Shanghai", 31.2, 121.5, 0.10, 0.14),
    "BJ": ("Beijing", 39.9, 116.4, 0.10, 0.06),
    "GD": ("Guangdong", 23.1, 113.3, 0.16, 0.30),
    "ZJ": ("Zhejiang", 30.3, 120.2, 0.10, 0.22),
    "JS": ("Jiangsu", 32.1, 118.8, 0.10, 0.12),
    "FJ": ("Fujian", 26.1, 119.3, 0.05, 0.08),
    "SC": ("Sichuan", 30.7, 104.1, 0.09, 0.03),
    "HB": ("Hubei", 30.6, 114.3, 0.08, 0.03),
    "SN": ("Shaanxi", 34.3, 108.9, 0.06, 0.01),
    "HL": ("Heilongjiang", 45.8, 126.5, 0.06, 0.005),
    "YN": ("Yunnan", 25.0, 102.7, 0.05, 0.005),
    "XJ": ("Xinjiang", 43.8, 87.6, 0.05, 0.0),
}
REMOTE = ("HL", "YN", "XJ")

# speed km/day, log-spread of transit, works (sat, sun), peak capacity (x mean volume),
# chance that a scan is recorded, loss rate, price factor
CARRIERS: dict[str, dict] = {
    "Zephyr Express": dict(
        speed=1000, sigma=0.16, sat=True, sun=True, capacity=2.4, scan=0.95, lost=0.001, cost=1.6
    ),
    "Blue Arrow": dict(
        speed=700, sigma=0.26, sat=True, sun=False, capacity=1.8, scan=0.85, lost=0.002, cost=1.0
    ),
    "Jade Freight": dict(
        speed=600, sigma=0.30, sat=True, sun=False, capacity=1.5, scan=0.7, lost=0.003, cost=0.85
    ),
    "Panda Post": dict(
        speed=480, sigma=0.40, sat=False, sun=False, capacity=1.3, scan=0.55, lost=0.005, cost=0.7
    ),
}
SERVICES = {  # speed factor, platform buffer days, share of orders
    "express": (1.5, 2.0, 0.15),
    "standard": (1.0, 3.0, 0.65),
    "economy": (0.8, 4.0, 0.20),
}
CATEGORIES = {  # mean weight kg, mean price, share
    "electronics": (1.2, 900.0, 0.16),
    "apparel": (0.6, 180.0, 0.24),
    "home": (2.5, 220.0, 0.16),
    "beauty": (0.4, 150.0, 0.14),
    "toys": (1.0, 120.0, 0.09),
    "books": (0.8, 60.0, 0.08),
    "sports": (2.0, 300.0, 0.08),
    "furniture": (15.0, 1200.0, 0.05),
}
# (month, day, length in days, volume factor): 11.11, 12.12, 618 and the Spring Festival run-up
PEAKS = ((11, 4, 9, 2.6), (12, 9, 5, 1.8), (6, 14, 6, 1.7), (1, 20, 14, 1.5))
SPRING_FESTIVAL = (2, 5, 8)  # carriers and sellers slow down for 8 days from Feb 5
NOMINAL_SPEED = 700.0  # km/day the platform's promise assumes
NOMINAL_HANDLING = 2.5  # days the platform's promise assumes
PICKUP_HOUR = 17 / 24
OPEN_HOUR = 9 / 24


@dataclass(frozen=True)
class Simulation:
    """Simulated `orders` and `events` (canonical tables) and the `disruptions` behind them."""

    orders: pd.DataFrame
    events: pd.DataFrame
    disruptions: pd.DataFrame


def _haversine(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def _weekday(t: np.ndarray, start_dow: int) -> np.ndarray:
    return (np.floor(t).astype(np.int64) + start_dow) % 7  # 0 = Monday


def _to_working(
    t: np.ndarray, sat: np.ndarray, sun: np.ndarray, start_dow: int, hour: float
) -> np.ndarray:
    """Move times that fall on a day off to `hour` of the next working day."""
    t = t.copy()
    for _ in range(2):
        dow = _weekday(t, start_dow)
        off = ((dow == 5) & ~sat) | ((dow == 6) & ~sun)
        t[off] = np.floor(t[off]) + 1 + hour
    return t


def _next_slot(t: np.ndarray, hour: float) -> np.ndarray:
    """The next daily slot at `hour` at or after `t`."""
    day = np.floor(t)
    return np.where(t - day <= hour, day + hour, day + 1 + hour)


def _day_weights(days: int, start: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
    dates = start + pd.to_timedelta(np.arange(days), unit="D")
    weights = np.ones(days) * np.where(dates.day_of_week >= 5, 1.15, 1.0)
    for month, day, length, factor in PEAKS:
        for year in range(start.year - 1, dates[-1].year + 1):
            first = pd.Timestamp(year=year, month=month, day=day, tz="UTC")
            offset = (dates - first).days
            inside = (offset >= 0) & (offset < length)
            ramp = 1 + (factor - 1) * (0.5 + 0.5 * offset / max(length - 1, 1))
            weights = np.where(inside, weights * ramp, weights)
    return weights * rng.lognormal(0, 0.08, days)


def simulate_marketplace(
    n_orders: int = 10_000,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2024-01-01",
    days: int | None = None,
    n_sellers: int | None = None,
) -> Simulation:
    """Simulate `n_orders` purchased over `days` (default: ~280 orders a day, 60 to 730 days).

    Same arguments, same tables: every random draw comes from one `numpy` generator seeded
    with `seed`.
    """
    if n_orders < 10:
        raise InputError("simulate at least 10 orders")
    days = days or int(np.clip(n_orders / 280, 60, 730))
    if days < 7:
        raise InputError("simulate at least 7 days")
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    start = start.floor("D")
    start_dow = start.day_of_week
    n = n_orders

    # -- sellers --------------------------------------------------------------------------
    region_codes = np.array(list(REGIONS))
    info = np.array([REGIONS[r][1:] for r in region_codes], dtype=float)
    lat, lon, buyer_share, seller_share = info.T
    carrier_names = np.array(list(CARRIERS))
    carrier = {
        k: np.array([CARRIERS[c][k] for c in carrier_names]) for k in CARRIERS[carrier_names[0]]
    }
    categories = np.array(list(CATEGORIES))
    cat_info = np.array([CATEGORIES[c] for c in categories], dtype=float)
    n_sellers = n_sellers or max(30, n // 50)
    s_region = rng.choice(len(region_codes), n_sellers, p=seller_share / seller_share.sum())
    s_handling = rng.lognormal(np.log(1.1), 0.55, n_sellers)  # mean handling days
    s_slip = rng.beta(1.2, 25, n_sellers)  # chance of a long slip
    s_weekend = rng.random(n_sellers) < 0.35
    s_carrier = rng.choice(len(carrier_names), n_sellers, p=[0.25, 0.35, 0.2, 0.2])
    s_category = rng.choice(len(categories), n_sellers, p=cat_info[:, 2] / cat_info[:, 2].sum())
    s_popularity = rng.pareto(1.3, n_sellers) + 1

    # -- lanes: each carrier's reliability on each destination region ------------------------
    lane_factor = rng.lognormal(0, 0.12, (len(carrier_names), len(region_codes)))
    for c in ("Jade Freight", "Panda Post"):
        ci = int(np.flatnonzero(carrier_names == c)[0])
        for r in REMOTE:
            lane_factor[ci, int(np.flatnonzero(region_codes == r)[0])] *= 1.35

    # -- purchases: volume follows the calendar and its peaks ---------------------------------
    weights = _day_weights(days, start, rng)
    day = rng.choice(days, n, p=weights / weights.sum())
    hour = np.clip(rng.normal(14.5, 4.5, n), 0, 23.99) / 24
    purchase = np.sort(day + hour)
    volume = np.bincount(np.floor(purchase).astype(int), minlength=days + 400).astype(float)
    typical = np.median(volume[:days])
    if typical <= 0:  # fewer orders than days: most days have none
        typical = max(volume[:days].mean(), 1.0)
    load = volume / typical

    seller = rng.choice(n_sellers, n, p=s_popularity / s_popularity.sum())
    origin = s_region[seller]
    dest = rng.choice(len(region_codes), n, p=buyer_share / buyer_share.sum())
    own = rng.random(n) < 0.85
    ci = np.where(own, s_carrier[seller], rng.choice(len(carrier_names), n))
    service_names = np.array(list(SERVICES))
    svc_info = np.array([SERVICES[s] for s in service_names])
    svc = rng.choice(len(service_names), n, p=svc_info[:, 2])
    cat = np.where(rng.random(n) < 0.85, s_category[seller], rng.choice(len(categories), n))
    n_items = 1 + rng.poisson(0.35, n)
    weight = np.round(cat_info[cat, 0] * rng.lognormal(0, 0.5, n) * n_items, 2)
    price = np.round(cat_info[cat, 1] * rng.lognormal(0, 0.6, n) * n_items, 2)
    distance = _haversine(lat[origin], lon[origin], lat[dest], lon[dest]) + rng.uniform(20, 120, n)
    freight = np.round(
        (6 + 0.004 * distance + 1.5 * weight) * carrier["cost"][ci] * np.where(svc == 0, 1.6, 1.0),
        2,
    )

    # -- the platform's promise: nominal handling and transit, peak calendar padding -----------
    speed_factor = svc_info[svc, 0].astype(float)
    nominal = (
        NOMINAL_HANDLING
        + 0.5
        + distance / (NOMINAL_SPEED * speed_factor)
        + svc_info[svc, 1].astype(float)
    )
    peak_pad = np.where(load[np.floor(purchase).astype(int)] > 1.6, 1.0, 0.0)
    promised_day = np.floor(purchase + nominal + peak_pad)
    ship_by = _to_working(
        purchase + 2.0, np.ones(n, bool), np.zeros(n, bool), start_dow, PICKUP_HOUR
    )

    # -- seller handling ------------------------------------------------------------------
    sat = s_weekend[seller]
    handling = rng.gamma(2.0, s_handling[seller] / 2.0)
    slip = rng.random(n) < s_slip[seller]
    handling = handling + np.where(slip, rng.uniform(2, 7, n), 0.0)
    ready = _to_working(purchase + handling, sat, sat, start_dow, OPEN_HOUR)
    label = purchase + (ready - purchase) * rng.uniform(0.1, 0.8, n)
    label = np.maximum(_to_working(label, sat, sat, start_dow, OPEN_HOUR), purchase + 0.01)
    label = np.minimum(label, ready)

    # -- disruptions ------------------------------------------------------------------------
    n_storms = max(1, days // 25)
    n_strikes = max(1, days // 120)
    storms = pd.DataFrame(
        {
            "kind": "storm",
            "region": region_codes[
                rng.choice(len(region_codes), n_storms, p=buyer_share / buyer_share.sum())
            ],
            "carrier": "",
            "start": rng.uniform(0, days, n_storms),
            "days": rng.uniform(2, 6, n_storms),
            "severity": rng.uniform(0.6, 1.2, n_storms),
        }
    )
    strikes = pd.DataFrame(
        {
            "kind": "strike",
            "region": "",
            "carrier": carrier_names[rng.choice(len(carrier_names), n_strikes)],
            "start": rng.uniform(0, days, n_strikes),
            "days": rng.uniform(2, 5, n_strikes),
            "severity": 1.0,
        }
    )
    disruptions = pd.concat([storms, strikes], ignore_index=True)

    # -- carrier pickup: daily slot, pickup days, storms at origin and strikes ------------------
    c_sat, c_sun = carrier["sat"][ci].astype(bool), carrier["sun"][ci].astype(bool)
    pickup = _to_working(_next_slot(ready, PICKUP_HOUR), c_sat, c_sun, start_dow, PICKUP_HOUR)
    for row in disruptions.itertuples():
        hit = (pickup >= row.start) & (pickup < row.start + row.days)
        hit &= (
            (origin == np.flatnonzero(region_codes == row.region)[0])
            if row.kind == "storm"
            else (carrier_names[ci] == row.carrier)
        )
        pickup[hit] = _to_working(
            _next_slot(np.full(hit.sum(), row.start + row.days), PICKUP_HOUR),
            c_sat[hit],
            c_sun[hit],
            start_dow,
            PICKUP_HOUR,
        )

    # -- transit: distance, lane, noise, congestion, festival, disruptions, exceptions --------
    congestion = 1 + 0.45 * np.maximum(
        0, load[np.floor(pickup).astype(int)] - carrier["capacity"][ci]
    )
    pickup_date = start + pd.to_timedelta(np.floor(pickup), unit="D")
    month, dom = pickup_date.month.to_numpy(), pickup_date.day.to_numpy()
    festival = (
        (month == SPRING_FESTIVAL[0])
        & (dom >= SPRING_FESTIVAL[1])
        & (dom < SPRING_FESTIVAL[1] + SPRING_FESTIVAL[2])
    )
    transit = (0.5 + distance / (carrier["speed"][ci] * speed_factor)) * lane_factor[ci, dest]
    transit *= (
        rng.lognormal(0, carrier["sigma"][ci]) * congestion * (1 + 0.01 * np.minimum(weight, 40))
    )
    transit += np.where(festival, rng.uniform(2, 5, n), 0.0)
    delay = np.zeros(n)
    hit_at = np.full(n, np.nan)
    for row in disruptions.itertuples():
        end = pickup + transit + delay
        overlap = np.minimum(end, row.start + row.days) - np.maximum(pickup, row.start)
        if row.kind == "storm":
            r = np.flatnonzero(region_codes == row.region)[0]
            mask = (overlap > 0) & ((dest == r) | (origin == r))
        else:
            mask = (overlap > 0) & (carrier_names[ci] == row.carrier)
        delay[mask] += overlap[mask] * row.severity
        first = mask & np.isnan(hit_at)
        hit_at[first] = np.maximum(pickup[first], row.start) + 0.1
    address_problem = rng.random(n) < 0.012
    delay += np.where(address_problem, rng.uniform(1, 3, n), 0.0)
    arrival = pickup + transit + delay
    disrupted = ~np.isnan(hit_at)
    lost = rng.random(n) < carrier["lost"][ci] * np.where(disrupted, 4.0, 1.0)
    canceled = (rng.random(n) < 0.006) & ~lost

    d_sun = carrier["sun"][ci].astype(bool)
    out_for_delivery = _to_working(
        _next_slot(arrival + 0.05, 8 / 24), np.ones(n, bool), d_sun, start_dow, 8 / 24
    )
    delivered = out_for_delivery + rng.uniform(1, 9, n) / 24

    # -- events ----------------------------------------------------------------------------
    index = np.arange(n)
    parts: list[tuple[np.ndarray, np.ndarray, str, np.ndarray]] = []  # order, time, type, region

    def add(mask: np.ndarray, times: np.ndarray, kind: str, region: np.ndarray) -> None:
        parts.append((index[mask], times[mask], kind, region[mask]))

    alive = ~canceled
    add(np.ones(n, bool), label, "label_created", origin)
    add(alive, pickup, "picked_up", origin)
    stop = np.where(lost, pickup + (arrival - pickup) * rng.uniform(0.2, 0.6, n), np.inf)
    middle = np.where(rng.random(n) < 0.5, origin, dest)
    for fraction, where in ((0.12, origin), (0.45, middle), (0.75, dest)):
        scan_time = pickup + fraction * (arrival - pickup)
        keep = alive & (rng.random(n) < carrier["scan"][ci]) & (scan_time < stop)
        add(keep, scan_time, "in_transit", where)
    exception_seen = alive & ((disrupted & (rng.random(n) < 0.7)) | address_problem)
    exception_time = np.where(disrupted, hit_at, pickup + 0.8 * (arrival - pickup))
    add(exception_seen & (exception_time < stop), exception_time, "exception", dest)
    arrived = alive & ~lost
    add(arrived, arrival, "arrived_at_hub", dest)
    add(arrived, out_for_delivery, "out_for_delivery", dest)
    add(arrived, delivered, "delivered", dest)
    event_order = np.concatenate([p[0] for p in parts])
    event_time = np.concatenate([p[1] for p in parts])
    event_kind = np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts])
    event_region = np.concatenate([p[3] for p in parts])

    # -- tables ----------------------------------------------------------------------------
    def stamp(t: np.ndarray) -> pd.Series:
        ns = np.where(np.isfinite(t), t, 0) * 86_400e9
        values = pd.to_datetime(start.value + ns.astype(np.int64), utc=True).round("s")
        return pd.Series(values).where(np.isfinite(t))

    order_ids = np.char.add("SIM", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object)
    seller_ids = np.char.add("SELLER", np.char.zfill(seller.astype(str), 5)).astype(object)
    delivered_time = np.where(arrived, delivered, np.nan)
    orders = with_every_field(
        pd.DataFrame(
            {
                "order_id": order_ids,
                "purchased_at": stamp(purchase),
                "promised_date": stamp(promised_day),
                "ship_by": stamp(ship_by),
                "seller_id": seller_ids,
                "seller_region": region_codes[origin].astype(object),
                "buyer_region": region_codes[dest].astype(object),
                "carrier": carrier_names[ci].astype(object),
                "service_level": service_names[svc].astype(object),
                "category": categories[cat].astype(object),
                "n_items": n_items,
                "weight_kg": weight,
                "price": price,
                "freight": freight,
                "distance_km": np.round(distance, 1),
                "delivered_at": stamp(delivered_time),
                "canceled": canceled,
            }
        )
    )
    sort = np.lexsort((event_time, event_order))
    events = pd.DataFrame(
        {
            "order_id": order_ids[event_order[sort]],
            "time": stamp(event_time[sort]),
            "event_type": event_kind[sort],
            "location": region_codes[event_region[sort]].astype(object),
        }
    )
    disruptions["start"] = stamp(disruptions["start"].to_numpy())
    disruptions["days"] = disruptions["days"].round(2)
    disruptions["severity"] = disruptions["severity"].round(2)
    return Simulation(orders=orders, events=events, disruptions=disruptions)
