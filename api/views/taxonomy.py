"""``GET /v1/taxonomy``: the categories with their names, teams and required details."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.auth import requires
from api.runtime import runtime

__all__ = ["blueprint"]

blueprint = Blueprint("taxonomy", __name__)


@blueprint.get("/v1/taxonomy")
@requires("predict")
def get_taxonomy() -> ResponseReturnValue:
    """The taxonomy the service routes to."""
    return runtime().taxonomy.to_dict()
