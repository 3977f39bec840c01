"""The test suite's own machinery: what `make check` and `make test` rely on to be fast."""

import pytest


@pytest.mark.xdist_group("suite-check")
def test_xdist_groups_reach_the_scheduler(request):
    """`--dist loadgroup` (make check, make test) runs the tests of one xdist_group in one
    process: the console's browser tests share one server and browser, the tests of the default
    model one fit of it (tests/conftest.py: BUILT_ONCE). xdist learns a test's group from its
    id; with pytest 9.2 and pytest-xdist 3.8 the id no longer carries it
    (pytest-dev/pytest-xdist#1386) and the groups are silently spread over the processes."""
    if getattr(request.config.option, "loadgroup", False):  # set in xdist workers only
        assert request.node.nodeid.endswith("@suite-check"), (
            f"{request.node.nodeid}: xdist did not group this test; see pyproject.toml's pytest pin"
        )
