"""Delayed orders: schema, simulator, Olist adapter, as-of features, risk model, suggestions.

The public API, in the order data flows through it::

    validate_orders / validate_events / orders_from_records / events_from_records   schema.py
    simulate_marketplace -> Simulation(orders, events, disruptions)                 simulator.py
    load_olist(dir) -> OlistData(orders, events, tables, notes)                     olist.py
    build_dataset, time_split, fit_risk_model, evaluate_risk                        training.py
    RiskScorer(model).score_frame(...) / .score(...) -> [RiskScore]                 scoring.py
    SuggestionPolicy(threshold).suggest(scores, store, has_case=...) -> [Suggestion] suggestions.py
    SuggestionStore (protocol), InMemorySuggestionStore                             suggestions.py
    drafts(facts, category) -> {"zh": ..., "en": ...}                               drafts.py

On the service database (imported from their modules, which need SQLAlchemy)::

    OrderStore(store): orders and tracking events                                  storage.py
    DatabaseSuggestionStore(store): suggestions                                    suggestion_store.py
    CaseStore(store): the cases accepted from them                 triage/cases/store.py
    OrderService(store): score, ingest + re-score + suggest, accept, dismiss, demo  service.py

The names are imported on first use (PEP 562): importing a module of the package does not load
the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.lazy import lazy_exports

if TYPE_CHECKING:
    from triage.orders.drafts import draft_case, drafts
    from triage.orders.features import FEATURES, OrderFeatures, build_features
    from triage.orders.model import RiskModel
    from triage.orders.olist import OlistData, load_olist
    from triage.orders.schema import (
        EVENT_TYPES,
        events_from_records,
        orders_from_records,
        validate_events,
        validate_orders,
    )
    from triage.orders.scoring import RISK_MODEL_NAME, RiskScore, RiskScorer, suggested_category
    from triage.orders.simulator import Simulation, simulate_marketplace
    from triage.orders.snapshots import DECISION_POINTS, censor, decision_snapshots, late_labels
    from triage.orders.suggestions import (
        InMemorySuggestionStore,
        Suggestion,
        SuggestionPolicy,
        SuggestionStore,
    )
    from triage.orders.training import (
        build_dataset,
        evaluate_risk,
        fit_risk_model,
        time_split,
    )

__all__ = [
    "DECISION_POINTS",
    "EVENT_TYPES",
    "FEATURES",
    "RISK_MODEL_NAME",
    "InMemorySuggestionStore",
    "OlistData",
    "OrderFeatures",
    "RiskModel",
    "RiskScore",
    "RiskScorer",
    "Simulation",
    "Suggestion",
    "SuggestionPolicy",
    "SuggestionStore",
    "build_dataset",
    "build_features",
    "censor",
    "decision_snapshots",
    "draft_case",
    "drafts",
    "evaluate_risk",
    "events_from_records",
    "fit_risk_model",
    "late_labels",
    "load_olist",
    "orders_from_records",
    "simulate_marketplace",
    "suggested_category",
    "time_split",
    "validate_events",
    "validate_orders",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DECISION_POINTS": "triage.orders.snapshots",
        "EVENT_TYPES": "triage.orders.schema",
        "FEATURES": "triage.orders.features",
        "RISK_MODEL_NAME": "triage.orders.scoring",
        "InMemorySuggestionStore": "triage.orders.suggestions",
        "OlistData": "triage.orders.olist",
        "OrderFeatures": "triage.orders.features",
        "RiskModel": "triage.orders.model",
        "RiskScore": "triage.orders.scoring",
        "RiskScorer": "triage.orders.scoring",
        "Simulation": "triage.orders.simulator",
        "Suggestion": "triage.orders.suggestions",
        "SuggestionPolicy": "triage.orders.suggestions",
        "SuggestionStore": "triage.orders.suggestions",
        "build_dataset": "triage.orders.training",
        "build_features": "triage.orders.features",
        "censor": "triage.orders.snapshots",
        "decision_snapshots": "triage.orders.snapshots",
        "draft_case": "triage.orders.drafts",
        "drafts": "triage.orders.drafts",
        "evaluate_risk": "triage.orders.training",
        "events_from_records": "triage.orders.schema",
        "fit_risk_model": "triage.orders.training",
        "late_labels": "triage.orders.snapshots",
        "load_olist": "triage.orders.olist",
        "orders_from_records": "triage.orders.schema",
        "simulate_marketplace": "triage.orders.simulator",
        "suggested_category": "triage.orders.scoring",
        "time_split": "triage.orders.training",
        "validate_events": "triage.orders.schema",
        "validate_orders": "triage.orders.schema",
    },
)
