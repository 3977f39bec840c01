"""Delayed orders, in four layers whose imports run one way (import-linter checks it)::

    data/         fields, schema, records, files, simulator, olist        imports nothing above
    risk/         snapshots, history(_cache), features, model, training,
                  scoring, reasons, baseline, report                     imports data
    suggestions/  policy, drafts, lifecycle                              imports risk, data
    service.py, storage.py, suggestion_store.py, default.py, commands.py   on top

The public API, in the order data flows through it::

    validate_orders / validate_events / orders_from_records / events_from_records   data/schema.py
    simulate_marketplace -> Simulation(orders, events, disruptions)            data/simulator.py
    load_olist(dir) -> OlistData(orders, events, tables, notes)                    data/olist.py
    build_dataset, time_split, fit_risk_model, evaluate_risk                    risk/training.py
    RiskScorer(model).score_frame(...) / .score(...) -> [RiskScore]              risk/scoring.py
    SuggestionPolicy(threshold).suggest(scores, store, has_case=...)    suggestions/policy.py
    SuggestionStore (protocol), InMemorySuggestionStore                  suggestions/policy.py
    decide / settle: the status of a suggestion, decided in one place  suggestions/lifecycle.py
    drafts(facts, category) -> {"zh": ..., "en": ...}                    suggestions/drafts.py

On the service database (imported from their modules, which need SQLAlchemy)::

    OrderStore(store): orders and tracking events                                  storage.py
    DatabaseSuggestionStore(store): suggestions                            suggestion_store.py
    CaseStore(store): the cases accepted from them                    triage/cases/store.py
    OrderService(store): score, ingest + re-score + suggest, accept, dismiss, demo  service.py

The names are imported on first use (PEP 562): importing a module of the package does not load
the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.lazy import lazy_exports

if TYPE_CHECKING:
    from triage.orders.data.fields import EVENT_TYPES
    from triage.orders.data.olist import OlistData, load_olist
    from triage.orders.data.schema import (
        events_from_records,
        orders_from_records,
        validate_events,
        validate_orders,
    )
    from triage.orders.data.simulator import Simulation, simulate_marketplace
    from triage.orders.risk.features import FEATURES, OrderFeatures, build_features
    from triage.orders.risk.model import RiskModel
    from triage.orders.risk.scoring import (
        RISK_MODEL_NAME,
        RiskScore,
        RiskScorer,
        suggested_category,
    )
    from triage.orders.risk.snapshots import (
        DECISION_POINTS,
        censor,
        decision_snapshots,
        late_labels,
    )
    from triage.orders.risk.training import (
        build_dataset,
        evaluate_risk,
        fit_risk_model,
        time_split,
    )
    from triage.orders.suggestions.drafts import draft_case, drafts
    from triage.orders.suggestions.policy import (
        InMemorySuggestionStore,
        Suggestion,
        SuggestionPolicy,
        SuggestionStore,
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
        "DECISION_POINTS": "triage.orders.risk.snapshots",
        "EVENT_TYPES": "triage.orders.data.fields",
        "FEATURES": "triage.orders.risk.features",
        "RISK_MODEL_NAME": "triage.orders.risk.scoring",
        "InMemorySuggestionStore": "triage.orders.suggestions.policy",
        "OlistData": "triage.orders.data.olist",
        "OrderFeatures": "triage.orders.risk.features",
        "RiskModel": "triage.orders.risk.model",
        "RiskScore": "triage.orders.risk.scoring",
        "RiskScorer": "triage.orders.risk.scoring",
        "Simulation": "triage.orders.data.simulator",
        "Suggestion": "triage.orders.suggestions.policy",
        "SuggestionPolicy": "triage.orders.suggestions.policy",
        "SuggestionStore": "triage.orders.suggestions.policy",
        "build_dataset": "triage.orders.risk.training",
        "build_features": "triage.orders.risk.features",
        "censor": "triage.orders.risk.snapshots",
        "decision_snapshots": "triage.orders.risk.snapshots",
        "draft_case": "triage.orders.suggestions.drafts",
        "drafts": "triage.orders.suggestions.drafts",
        "evaluate_risk": "triage.orders.risk.training",
        "events_from_records": "triage.orders.data.schema",
        "fit_risk_model": "triage.orders.risk.training",
        "late_labels": "triage.orders.risk.snapshots",
        "load_olist": "triage.orders.data.olist",
        "orders_from_records": "triage.orders.data.schema",
        "simulate_marketplace": "triage.orders.data.simulator",
        "suggested_category": "triage.orders.risk.scoring",
        "time_split": "triage.orders.risk.training",
        "validate_events": "triage.orders.data.schema",
        "validate_orders": "triage.orders.data.schema",
    },
)
