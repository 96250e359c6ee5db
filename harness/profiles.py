"""Hypothesis profiles: ``ci`` (fast, deterministic), ``dev`` and ``nightly`` (many examples)."""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PROFILES = {
    # ci: a fixed seed (see plugin: --trt-seed, default 0) rather than `derandomize`, whose seed is
    # a digest of the test function's source and so changes whenever the harness is edited; with a
    # seed the cases depend only on the strategies, and runs of two harness versions stay comparable.
    "ci": dict(max_examples=10, database=None,
               phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink)),
    "dev": dict(max_examples=25),
    "nightly": dict(max_examples=200),
}
_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])

for _name, _kw in PROFILES.items():
    settings.register_profile(f"trt-{_name}", **{**_COMMON, **_kw})


def use(name: str, seed: int | None = None, cases: int | None = None) -> settings:
    """Load a profile; ``cases`` (``--trt-cases``) or else TRT_HARNESS_MAX_EXAMPLES overrides its
    example count (e.g. for a GPU smoke run)."""
    import os

    if name not in PROFILES:
        raise ValueError(f"unknown Hypothesis profile {name!r}; known: {', '.join(PROFILES)}")
    override = str(cases) if cases is not None else os.environ.get("TRT_HARNESS_MAX_EXAMPLES")
    if override:
        if not override.isdigit() or int(override) < 1:
            raise ValueError(f"TRT_HARNESS_MAX_EXAMPLES must be a positive integer, got {override!r}")
        settings.register_profile(f"trt-{name}-n{override}", parent=settings.get_profile(f"trt-{name}"),
                                  max_examples=int(override))
        name = f"{name}-n{override}"
    settings.load_profile(f"trt-{name}")
    return settings.get_profile(f"trt-{name}")
