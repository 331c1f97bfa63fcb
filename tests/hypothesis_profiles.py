"""Hypothesis profiles.

- `ci` (the default, used by `make test`): derandomized, so a run explores the
  same examples every time and a failure is a fault in the code, never the
  luck of a seed; no example database, so nothing left on one machine changes
  what the next run tries.
- `fuzz` (`make fuzz`): random seeds, QUORUM_FUZZ_FACTOR (default 10) times
  as many examples, and the local example database so that a failure found
  once is tried first next time. For people to run on purpose.

Tests give their example counts through `examples(n)` so that the fuzz profile
scales them (an explicit `max_examples` would otherwise win over the profile).
"""

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, print_blob=True)
settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """`n` examples under the ci profile; QUORUM_FUZZ_FACTOR times as many under fuzz."""
    if PROFILE == "fuzz":
        return n * int(os.environ.get("QUORUM_FUZZ_FACTOR", "10"))
    return n
