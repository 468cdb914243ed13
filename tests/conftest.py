import os
import pathlib
import sys

import pytest

# validation/ is a top-level folder of the repository, not part of the installed package.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

# CI sets JAXSGE_REQUIRE_KWANT=1 so that a missing Kwant fails the run instead of skipping the
# cross-checks (the tests that need Kwant skip, with a reason, everywhere else).
if os.environ.get("JAXSGE_REQUIRE_KWANT") == "1":
    import kwant  # noqa: F401


@pytest.fixture
def fresh_plans():
    """The plan cache (``solve.transmissions.cached_plan``) emptied before and after a test that
    monkeypatches a planning constant, so that no plan made with other constants is reused."""
    from jaxsge.solve.transmissions import cached_plan

    cached_plan.cache_clear()
    yield
    cached_plan.cache_clear()
