"""`CaseRouter`: a loaded case model plus the taxonomy, turning texts into full predictions.

>>> router = CaseRouter.from_registry(Registry("models"))      # doctest: +SKIP
>>> router.predict(["我的包裹显示已签收但是没收到"])[0].category  # doctest: +SKIP
'not_received'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from triage.cases.details import missing_details, supplied_details
from triage.cases.model import CaseClassifier
from triage.cases.order_aware import LinkedOrder
from triage.errors import InputError, ModelError
from triage.registry import LoadedModel, Registry
from triage.taxonomy import Taxonomy
from triage.text.entities import extract_entities
from triage.text.language import LANGUAGES, detect_language, reply_language
from triage.text.normalize import normalize

__all__ = ["CASE_MODEL_NAME", "FILE_FIELDS", "CasePrediction", "CaseRouter", "prediction_records"]

CASE_MODEL_NAME = "cases"
#: what ``triage predict cases --data ... --out`` writes per text, after the text itself
FILE_FIELDS = ("category", "confidence", "needs_review", "language")


@dataclass
class CasePrediction:
    """Everything the service returns for one case."""

    category: str
    name_zh: str
    name_en: str
    confidence: float
    needs_review: bool
    threshold: float
    language: str
    close_call: bool = False
    top: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)
    missing_details: list[dict] = field(default_factory=list)
    explanation: list[dict] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    # with an order (CaseRouter.predict's `orders`): the text-only prediction, the order's facts
    # that moved it, and the required details the order supplied
    text_only: dict | None = None
    evidence: list[dict] = field(default_factory=list)
    order_details: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def prediction_records(texts: Sequence[str], predictions: Sequence[CasePrediction]) -> list[dict]:
    """The rows of a predictions file: each text with its `FILE_FIELDS`."""
    return [
        {"text": text, **{name: getattr(p, name) for name in FILE_FIELDS}}
        for text, p in zip(texts, predictions, strict=True)
    ]


class CaseRouter:
    """Predicts categories with names, alternatives, review flag, entities and missing details.

    Works with any label set: labels missing from the taxonomy are named by their id.
    """

    def __init__(
        self,
        model: CaseClassifier,
        taxonomy: Taxonomy | None = None,
        *,
        name: str = CASE_MODEL_NAME,
        version: str = "unversioned",
        top_k: int = 3,
        explain_terms: int = 6,
    ):
        if not isinstance(model, CaseClassifier):
            raise ModelError(f"expected a CaseClassifier, got {type(model).__name__}")
        self.model = model
        self.taxonomy = taxonomy
        self.name = name
        self.version = version
        self.top_k = top_k
        self.explain_terms = explain_terms

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, taxonomy: Taxonomy | None = None) -> CaseRouter:
        return cls(loaded.model, taxonomy, name=loaded.name, version=loaded.version)

    @classmethod
    def from_registry(
        cls, registry: Registry, taxonomy: Taxonomy | None = None, name: str = CASE_MODEL_NAME
    ) -> CaseRouter:
        return cls.from_loaded(registry.load(name), taxonomy)

    def _names(self, category: str) -> tuple[str, str]:
        if self.taxonomy is not None and category in self.taxonomy:
            entry = self.taxonomy[category]
            return entry.name_zh, entry.name_en
        return category, category

    def warm(self) -> CaseRouter:
        """Run one prediction so that jieba's dictionary, caches and the encoder are loaded."""
        if self.model.encoder_active:
            self.model.embedder_.transform(["预热 warm-up"])
        self.predict(["预热 warm-up 订单 order"])
        return self

    def predict(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None = None,
        orders: Sequence[LinkedOrder | None] | None = None,
    ) -> list[CasePrediction]:
        """Predict every text; `languages` may force a text's language (zh, en or mixed).

        `orders` gives a text's order (None: the case names none): its facts move the category
        through the model's order-aware part (triage.cases.order_aware; the text-only answer is
        kept in `text_only`), and the details it supplies are not asked for. Without `orders`,
        or for a text without one, the answer is the text-only one exactly."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"text {i} is empty")
        if languages is not None and len(languages) != len(texts):
            raise InputError("languages must have one entry per text")
        if not texts:
            return []
        if orders is not None and len(orders) != len(texts):
            raise InputError("orders must have one entry per text")
        model = self.model
        scored = model.scores(texts)
        matrix, proba = scored.matrix, scored.proba
        text_proba = proba
        linked = [] if orders is None else [i for i, o in enumerate(orders) if o is not None]
        stack = getattr(model, "order_stack_", None)
        needs_review, thresholds, close_call = (
            scored.needs_review,
            scored.thresholds,
            scored.close_call,
        )
        if linked and stack is not None:
            assert orders is not None
            proba, needs_review = proba.copy(), needs_review.copy()
            thresholds, close_call = thresholds.copy(), close_call.copy()
            aware = stack.predict_proba(proba[linked], [orders[i].facts for i in linked])
            proba[linked] = aware
            thresholds[linked] = model.review_thresholds(aware, scored.encoded[linked])
            with np.errstate(invalid="ignore"):  # the foreign-text guard of the text still holds
                foreign = scored.encoded[linked] & (
                    scored.similarity[linked] < model.min_similarity
                )
            needs_review[linked] = (aware.max(axis=1) < thresholds[linked]) | foreign
            top_two = np.sort(aware, axis=1)[:, -2:]
            close_call[linked] = (top_two[:, 1] - top_two[:, 0]) < model.close_call_margin
        order = np.argsort(-proba, axis=1)[:, : self.top_k]
        meta = {"name": self.name, "version": self.version}
        out = []
        for i, text in enumerate(texts):
            best = int(order[i, 0])
            category = str(model.classes_[best])
            confidence = float(proba[i, best])
            threshold = float(thresholds[i])
            linked_order = orders[i] if orders is not None else None
            forced = languages[i] if languages is not None else None
            if forced is not None and forced not in LANGUAGES:
                raise InputError(f"language must be one of {LANGUAGES}, not {forced!r}")
            language = forced or detect_language(text)
            entities = extract_entities(text)
            details: list[dict] = []
            supplied = dict(linked_order.details) if linked_order is not None else {}
            from_order: list[dict] = []
            if self.taxonomy is not None and category in self.taxonomy:
                normalized, reply = normalize(text), reply_language(language)
                details = missing_details(
                    self.taxonomy[category], normalized, entities, reply, supplied
                )
                if supplied:
                    from_order = supplied_details(
                        self.taxonomy[category], normalized, entities, reply, supplied
                    )
            text_only, evidence = None, []
            if linked_order is not None:
                text_best = int(np.argmax(text_proba[i]))
                text_category = str(model.classes_[text_best])
                only_zh, only_en = self._names(text_category)
                text_only = {
                    "category": text_category,
                    "name_zh": only_zh,
                    "name_en": only_en,
                    "confidence": round(float(text_proba[i, text_best]), 4),
                }
                if stack is not None:
                    evidence = stack.evidence(text_proba[i], linked_order.facts, category)
            name_zh, name_en = self._names(category)
            top = []
            for j in order[i]:
                alt = str(model.classes_[j])
                alt_zh, alt_en = self._names(alt)
                top.append(
                    {
                        "category": alt,
                        "name_zh": alt_zh,
                        "name_en": alt_en,
                        "confidence": round(float(proba[i, j]), 4),
                    }
                )
            out.append(
                CasePrediction(
                    category=category,
                    name_zh=name_zh,
                    name_en=name_en,
                    confidence=round(confidence, 4),
                    needs_review=bool(needs_review[i]),
                    threshold=round(threshold, 4),
                    language=language,
                    close_call=bool(close_call[i]),
                    top=top,
                    entities=[e.to_dict() for e in entities],
                    missing_details=details,
                    explanation=model.explain_row(matrix[i], best, self.explain_terms),
                    model=meta,
                    text_only=text_only,
                    evidence=evidence,
                    order_details=from_order,
                )
            )
        return out
