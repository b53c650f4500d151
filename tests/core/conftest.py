"""Hypothesis profiles for the invariants of the core transforms.

CI runs the "ci" profile (a few dozen examples per invariant, seconds). The
"extended" profile runs every invariant in tests/core with 10,000 examples:

  HYPOTHESIS_PROFILE=extended python -m pytest -q -n 0 \
      tests/core/test_properties.py -p no:cacheprovider

(4 to 11 minutes per invariant on 2 shared CPU cores, the whole file
well under two hours).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile(
    "extended", max_examples=10_000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
