"""Charts of the console, drawn on the server by matplotlib (no chart script in the browser):
SVG documents that pages show as ``<img src="data:image/svg+xml;base64,...">`` (the Content
Security Policy allows images from data: URLs, not inline scripts or styles)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

from triage.evaluation import pyplot

__all__ = ["drift_chart", "svg_data_url"]


def svg_data_url(svg: bytes) -> str:
    """A data: URL of an SVG document."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def drift_chart(periods: Sequence[Mapping], title: str) -> bytes | None:
    """PSI of category mix, language mix and confidence per period, with the 0.1 and 0.25
    lines (moderate and significant drift); None when no period has enough predictions."""
    scored = [p for p in periods if "category_psi" in p]
    if not scored:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    labels = [p["period"] for p in scored]
    for key, name in (
        ("category_psi", "category mix"),
        ("language_psi", "language mix"),
        ("confidence_psi", "confidence"),
    ):
        ax.plot(labels, [p[key] for p in scored], marker="o", label=name)
    ax.axhline(0.1, color="#b35c00", linestyle=":", linewidth=1)
    ax.axhline(0.25, color="#b3261e", linestyle="--", linewidth=1)
    ax.set_ylabel("PSI vs training data")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="svg")
    plt.close(fig)
    return out.getvalue()
