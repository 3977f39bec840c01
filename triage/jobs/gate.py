"""The promotion gate: a challenger replaces the champion only if it is no worse where it matters.

    >>> decision = compare(champion_metrics, challenger_metrics, GatePolicy())   # doctest: +SKIP
    >>> decision.promote, decision.reasons                                      # doctest: +SKIP

Both metric dicts come from `triage.evaluation.evaluate_case_predictions` on the same frozen
evaluation set. The delay-risk model has its own checks (`RiskGatePolicy`, `compare_risk`) on
metrics from `triage.orders.risk.training.evaluate_risk` over the same time-ordered holdout,
and may also hold it to a logistic regression trained on the same orders
(`RiskGatePolicy.baseline_tolerance`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = [
    "GateCheck",
    "GateDecision",
    "GatePolicy",
    "RiskGatePolicy",
    "baseline_checks",
    "compare",
    "compare_risk",
]


@dataclass(frozen=True)
class GatePolicy:
    """How much worse a challenger may be, per check (absolute differences).

    On the default 1,003-case evaluation set one case changing sides moves macro-F1 by about
    0.001, and adding a handful of corrections to 4,000 training cases flips a case or two by
    chance; 0.005 (about five cases) keeps that noise from blocking every retraining, while a
    real regression still fails. Set it to 0 for a strict "never lower" gate.
    """

    macro_f1_tolerance: float = 0.005
    recall_tolerance: float = 0.02
    language_tolerance: float = 0.02
    ece_tolerance: float = 0.02


@dataclass(frozen=True)
class RiskGatePolicy:
    """How much worse a risk challenger may be at any decision point (absolute differences).

    Measured on the default data (10,000 simulated orders, holdout the latest 20 %): models
    trained with 3 to 14 fewer days of history moved ROC AUC by at most 0.005 at any decision
    point, so 0.01 lets that noise through and stops a real loss of ranking. Brier scores there
    are 0.04 to 0.08; 0.005 is about a tenth of the smallest. The same experiments moved Brier by
    up to 0.019, but those were real calibration losses of models that missed the latest days.
    """

    roc_auc_tolerance: float = 0.01
    brier_tolerance: float = 0.005
    #: with a value, the challenger's ROC AUC at each decision point may also be at most this much
    #: below that of a logistic regression trained on the same orders and scored on the same
    #: holdout (`LogisticRiskModel`). None (the default): both are reported, not gated. A
    #: gradient-boosted model can lose to such a baseline out of time on real orders (Olist,
    #: docs/BENCHMARKS.md, issue 16), and one holdout of a few hundred orders moves the margin by
    #: ±0.02 to ±0.03, so a small tolerance rejects good models by chance there.
    baseline_tolerance: float | None = None


@dataclass(frozen=True)
class GateCheck:
    """One comparison: higher is better unless `lower_is_better`."""

    name: str
    champion: float | None
    challenger: float | None
    tolerance: float
    lower_is_better: bool = False
    against: str = "champion"  # what `champion` holds: the champion's figure, or a reference's

    @property
    def passed(self) -> bool:
        if self.champion is None or self.challenger is None:
            return True  # nothing to compare against (e.g. a class new to the challenger)
        if self.lower_is_better:
            return self.challenger <= self.champion + self.tolerance + 1e-12
        return self.challenger >= self.champion - self.tolerance - 1e-12

    def describe(self) -> str:
        if self.against != "champion":
            side = "above" if self.lower_is_better else "below"
            return (
                f"{self.name} is {self.challenger:.4f}, {side} the {self.against}'s "
                f"{self.champion:.4f} (tolerance {self.tolerance})"
            )
        direction = "rose" if self.lower_is_better else "fell"
        return (
            f"{self.name} {direction} from {self.champion:.4f} to {self.challenger:.4f} "
            f"(tolerance {self.tolerance})"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


@dataclass
class GateDecision:
    """The verdict with every check, failed ones named in `reasons`."""

    promote: bool
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [c.describe() for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {
            "promote": self.promote,
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
        }


def compare(
    champion: dict | None, challenger: dict, policy: GatePolicy | None = None
) -> GateDecision:
    """Gate `challenger` against `champion` metrics; with no champion the challenger passes."""
    policy = policy or GatePolicy()
    if champion is None:
        return GateDecision(promote=True)
    checks = [
        GateCheck(
            "macro-F1", champion["macro_f1"], challenger["macro_f1"], policy.macro_f1_tolerance
        ),
        GateCheck(
            "ECE", champion["ece"], challenger["ece"], policy.ece_tolerance, lower_is_better=True
        ),
    ]
    for label, row in champion["per_class"].items():
        if row["support"] == 0:
            continue
        new = challenger["per_class"].get(label, {}).get("recall", 0.0)
        checks.append(GateCheck(f"recall of {label}", row["recall"], new, policy.recall_tolerance))
    for language, row in champion.get("per_language", {}).items():
        new = challenger.get("per_language", {}).get(language, {}).get("accuracy")
        checks.append(
            GateCheck(f"accuracy on {language}", row["accuracy"], new, policy.language_tolerance)
        )
    return GateDecision(promote=all(c.passed for c in checks), checks=checks)


def compare_risk(
    champion: dict | None,
    challenger: dict,
    policy: RiskGatePolicy | None = None,
    baseline: dict | None = None,
) -> GateDecision:
    """Gate risk metrics per decision point: ROC AUC may not fall, Brier may not rise, beyond
    the tolerances; with no champion there is nothing to fall from. With `baseline` (the
    metrics of a logistic regression trained on the same orders) and a
    ``policy.baseline_tolerance``, the challenger's ROC AUC at each decision point may also not
    be more than that below the baseline's, champion or not."""
    policy = policy or RiskGatePolicy()
    checks = []
    for point, old in (champion or {}).get("decision_points", {}).items():
        new = challenger["decision_points"].get(point, {})
        checks.append(
            GateCheck(
                f"ROC AUC at {point}", old["roc_auc"], new.get("roc_auc"), policy.roc_auc_tolerance
            )
        )
        checks.append(
            GateCheck(
                f"Brier at {point}",
                old["brier"],
                new.get("brier"),
                policy.brier_tolerance,
                lower_is_better=True,
            )
        )
    if baseline is not None and policy.baseline_tolerance is not None:
        checks += baseline_checks(challenger, baseline, policy.baseline_tolerance)
    return GateDecision(promote=all(c.passed for c in checks), checks=checks)


def baseline_checks(challenger: dict, baseline: dict, tolerance: float) -> list[GateCheck]:
    """The challenger's ROC AUC at each decision point against the logistic baseline's (risk
    metrics as `compare_risk` reads them): the gate's checks with its tolerance, and with 0 the
    points where the challenger ranks worse."""
    return [
        GateCheck(
            f"ROC AUC at {point}",
            reference["roc_auc"],
            challenger["decision_points"].get(point, {}).get("roc_auc"),
            tolerance,
            against="logistic baseline",
        )
        for point, reference in baseline["decision_points"].items()
    ]
