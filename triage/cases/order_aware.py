"""Order-aware categories: the text model's probabilities combined with what the service knows
about the order a case names, learned from order-linked cases.

"还没到" or "where is my stuff??" is shipping_delay for an order in transit and not_received
for one that tracking calls delivered; the words alone cannot tell. `OrderStack` is a
multinomial logistic model over two kinds of evidence:

    score(c) = a · log p_text(c) + Σ_j w[c, j] · fact_j          p(c) = softmax(score)

`p_text` is the case model's calibrated probability, `fact_j` the order's state as numbers
(`fact_matrix`: one indicator per status, late, how late, tracking silent). One weight `a` for
the text keeps its ranking among the categories the facts do not touch (a text the facts say
nothing about keeps its category), and one row of fact weights per category plays the part of
a calibrated prior per order state, learned from data (triage.orders.linked builds the cases:
simulated orders joined with corpus texts and hand-written order-dependent texts). The facts
enter twice: alone, and once per text category scaled by the text's probability of it, so that
a state can mean something for one kind of text and nothing for another (a delivered order
says "not received" of "还没到", nothing of a fee question). Fitted with L-BFGS on the
log-likelihood with an L2 penalty on the fact weights (`alpha`) and its own on the
text-times-fact ones (`alpha_interact`); the text weight is free.

>>> stack = OrderStack().fit(proba, facts, labels)                 # doctest: +SKIP
>>> stack.predict_proba(proba, facts)                              # doctest: +SKIP
>>> stack.evidence(proba[0], facts[0], "not_received")             # doctest: +SKIP
[{'fact': 'status', 'value': 'delivered', 'weight': 2.1}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from triage.errors import InputError, ModelError

__all__ = [
    "FACT_NAMES",
    "ORDER_STATES",
    "SILENT_DAYS",
    "LinkedOrder",
    "OrderFacts",
    "OrderStack",
    "fact_matrix",
]

#: the state of an order as a case sees it (the service's stored order at the filing time)
ORDER_STATES = ("not_shipped", "in_transit", "delivered", "canceled")
#: handed to the carrier and no tracking event for this long: the parcel may be lost
SILENT_DAYS = 7.0
#: columns of `fact_matrix`, in order
FACT_NAMES = (*(f"status={s}" for s in ORDER_STATES), "late", "days_late", "tracking_silent")
_LATE_SCALE = 7.0  # days_late enters as days / 7, capped at two weeks
_LATE_CAP = 14.0
_PROBA_FLOOR = 1e-4


@dataclass(frozen=True)
class OrderFacts:
    """What the order says, as of the moment its case is filed."""

    status: str  # one of ORDER_STATES
    days_late: float = 0.0  # days past the end of the promised day (delivery, or now), >= 0
    handed_over: bool = False
    days_since_last_event: float | None = None  # None: no tracking event yet

    def __post_init__(self) -> None:
        if self.status not in ORDER_STATES:
            raise InputError(f"order status must be one of {', '.join(ORDER_STATES)}")

    @property
    def silent(self) -> bool:
        """Handed over, not delivered, and no tracking news for `SILENT_DAYS`."""
        return (
            self.status == "in_transit"
            and self.handed_over
            and (self.days_since_last_event or 0.0) >= SILENT_DAYS
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LinkedOrder:
    """A case's order as the case model sees it: its facts, and the required details it
    supplies (detail id of the taxonomy -> value, e.g. ``{"order_id": "A1"}``)."""

    facts: OrderFacts
    details: Mapping[str, str] = field(default_factory=dict)


def fact_matrix(facts: Sequence[OrderFacts]) -> np.ndarray:
    """The facts as numbers, one row per order, columns `FACT_NAMES`."""
    out = np.zeros((len(facts), len(FACT_NAMES)))
    for i, f in enumerate(facts):
        out[i, ORDER_STATES.index(f.status)] = 1.0
        late = min(max(f.days_late, 0.0), _LATE_CAP)
        out[i, 4] = float(late > 0)
        out[i, 5] = late / _LATE_SCALE
        out[i, 6] = float(f.silent)
    return out


def _describe(name: str, f: OrderFacts) -> tuple[str, str | float | bool]:
    """(fact, value) as the response shows it."""
    if name.startswith("status="):
        return "status", f.status
    if name == "tracking_silent":
        return "tracking_silent_days", round(float(f.days_since_last_event or 0.0), 1)
    return "days_late", round(float(f.days_late), 1)


class OrderStack:
    """The order-aware model (see the module): `fit`, `predict_proba`, `evidence`."""

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        alpha_interact: float | None = None,
        interact: bool = True,
        max_iter: int = 500,
    ):
        self.alpha = alpha  # L2 penalty on the fact weights (the text weight is free)
        self.alpha_interact = alpha_interact  # on the text-times-fact weights (None: alpha)
        self.interact = interact
        self.max_iter = max_iter

    @staticmethod
    def _log(proba: np.ndarray) -> np.ndarray:
        return np.log(np.clip(np.asarray(proba, dtype=float), _PROBA_FLOOR, 1.0))

    def _design(self, proba: np.ndarray, facts: Sequence[OrderFacts]) -> np.ndarray:
        """The facts, and the facts again once per text category, scaled by the text's
        probability of it: what an order says can weigh differently for each kind of text."""
        x = fact_matrix(facts)
        if not self.interact:
            return x
        p = np.asarray(proba, dtype=float)  # each fact once more per text category
        return np.hstack([x, (x[:, :, None] * p[:, None, :]).reshape(len(x), -1)])

    def _scores(self, log_p: np.ndarray, x: np.ndarray, a: float, w: np.ndarray) -> np.ndarray:
        return a * log_p + x @ w.T

    def fit(
        self,
        proba: np.ndarray,
        facts: Sequence[OrderFacts],
        labels: Sequence[str],
        classes: Sequence[str],
        sample_weight: np.ndarray | None = None,
    ) -> OrderStack:
        """Fit on text probabilities `proba` (columns in the order of `classes`), each case's
        order `facts` and its true category in `labels`."""
        from scipy.optimize import minimize

        classes = np.asarray(classes)
        log_p = self._log(proba)
        x = self._design(proba, facts)
        if log_p.shape != (len(x), len(classes)):
            raise InputError("proba needs one row per case and one column per class")
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({str(y) for y in labels} - set(index))
        if unknown:
            raise InputError(f"labels not among the classes: {', '.join(unknown)}")
        y = np.array([index[str(label)] for label in labels])
        weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        weight = weight / weight.sum()
        k, m = len(classes), x.shape[1]
        onehot = np.eye(k)[y]
        penalty = np.full(m, float(self.alpha))  # per column of the design
        if self.alpha_interact is not None:
            penalty[len(FACT_NAMES) :] = self.alpha_interact

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            a, w = theta[0], theta[1:].reshape(k, m)
            z = self._scores(log_p, x, a, w)
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            nll = -(weight * np.log(p[np.arange(len(y)), y] + 1e-300)).sum()
            value = nll + 0.5 * (penalty * w**2).sum() / len(y)
            residual = (p - onehot) * weight[:, None]
            grad_a = (residual * log_p).sum()
            grad_w = residual.T @ x + penalty * w / len(y)
            return value, np.concatenate([[grad_a], grad_w.ravel()])

        start = np.concatenate([[1.0], np.zeros(k * m)])
        found = minimize(
            loss, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter}
        )
        self.text_weight_ = float(found.x[0])
        self.fact_weights_ = found.x[1:].reshape(k, m)
        self.classes_ = classes
        self.n_cases_ = len(y)
        return self

    def _fact_of(self, column: int) -> int:
        """The fact (index into FACT_NAMES) behind a column of `_design`."""
        m = len(FACT_NAMES)
        return column if column < m else (column - m) // len(self.classes_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "fact_weights_"):
            raise ModelError("this OrderStack is not fitted yet; call fit first")

    def predict_proba(self, proba: np.ndarray, facts: Sequence[OrderFacts]) -> np.ndarray:
        """Order-aware probabilities, one row per case, columns in the order of `classes_`."""
        self._check_fitted()
        z = self._scores(
            self._log(proba), self._design(proba, facts), self.text_weight_, self.fact_weights_
        )
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def evidence(
        self, proba_row: np.ndarray, facts: OrderFacts, category: str, *, top: int = 3
    ) -> list[dict]:
        """The facts that pushed toward `category` (the order-aware answer) and away from the
        text's own first choice, strongest first: ``{"fact", "value", "weight"}`` where
        weight is the fact's share of the score difference between the two (log-odds)."""
        self._check_fitted()
        classes = list(self.classes_)
        chosen = classes.index(category)
        rival = int(np.argmax(proba_row))
        if rival == chosen:  # the text agreed: the facts that made it surer
            rest = [i for i in np.argsort(-np.asarray(proba_row)) if i != chosen]
            rival = int(rest[0]) if rest else chosen
        x = self._design(np.asarray(proba_row)[None, :], [facts])[0]
        push = (self.fact_weights_[chosen] - self.fact_weights_[rival]) * x
        found: dict[str, dict] = {}
        for j in np.argsort(-push):
            if push[j] <= 0.05:
                break
            fact, value = _describe(FACT_NAMES[self._fact_of(j)], facts)
            if fact not in found:
                found[fact] = {"fact": fact, "value": value, "weight": round(float(push[j]), 2)}
            else:  # late and days_late both speak of lateness: one entry, both weights
                found[fact]["weight"] = round(found[fact]["weight"] + float(push[j]), 2)
        return list(found.values())[:top]
