"""A run's facts (the meta table: state, times, sessions, hurdles, recorded setting digests...): what each must be when
read back, since a run directory is not trusted, and the digests that tell an edited config.json from its first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from evoact.records import METRICS, RunState, finite_number

#: The newest results of the fitness cache a surrogate run starts from (a run fact's bound).
CACHE_PRIOR_LIMIT = 2000

MAX_SESSIONS = 100_000  # a run's sessions (each a search or resume), as a run directory may claim them
MAX_SETTINGS = 1000  # the settings a run's recorded digests may name (evoact writes about 80)
_LAST_TIME = 1e11  # seconds since the epoch: the year 5138


def _a_time(value: Any) -> bool:
    """A time as evoact writes one: seconds since the epoch, not negative, not absurdly far ahead."""
    return finite_number(value) and 0 <= value <= _LAST_TIME


def _a_time_or_none(value: Any) -> bool:
    """A time, or None where there is none (a session killed without a word has no end)."""
    return value is None or _a_time(value)


#: What each run fact must be: (check, what it is, for the error).
_FACTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "state": (
        lambda v: v in tuple(RunState),
        ", ".join(RunState),
    ),
    "stopped_because": (lambda v: v is None or isinstance(v, str), "a reason"),
    "schema_version": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a version number"),
    "started_at": (_a_time, "a time"),
    "finished_at": (_a_time, "a time"),
    "sessions": (
        lambda v: (
            isinstance(v, list)
            and len(v) <= MAX_SESSIONS
            and all(isinstance(s, list) and len(s) == 2 and _a_time(s[0]) and _a_time_or_none(s[1]) for s in v)
        ),
        f"a list of at most {MAX_SESSIONS:,} [start, end or null] times",
    ),
    "mode": (lambda v: v in ("generational", "async"), "generational or async"),
    "ray_address": (lambda v: v is None or isinstance(v, str), "an address"),
    "hurdle": (lambda v: v is None or finite_number(v), "a number"),
    "hurdles": (
        lambda v: (
            isinstance(v, dict)
            and all(
                isinstance(h, dict) and finite_number(h.get("limit")) and isinstance(h.get("metric"), str)
                for h in v.values()
            )
        ),
        "hurdles per task",
    ),
    "references": (lambda v: isinstance(v, dict), "references per task"),
    "metrics": (lambda v: isinstance(v, dict) and all(m in METRICS for m in v.values()), "a metric per task"),
    "task_code": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(c, str) for k, c in v.items()),
        "a digest per user task",
    ),
    "confirmation": (lambda v: v is None or isinstance(v, dict), "a confirmation record"),
    "started_config": (
        lambda v: (
            isinstance(v, dict)
            and len(v) <= MAX_SETTINGS
            and all(isinstance(k, str) and len(k) <= 100 and isinstance(d, str) and len(d) <= 64 for k, d in v.items())
        ),
        f"at most {MAX_SETTINGS} digests, one per setting",
    ),
    "baseline_failures": (
        lambda v: (
            isinstance(v, list)
            and len(v) <= MAX_SESSIONS
            and all(isinstance(s, list) and all(isinstance(f, dict) for f in s) for s in v)
        ),
        "a list of the baselines' failures, one list per resume that trained them again",
    ),
    "races_exhausted": (
        lambda v: (
            isinstance(v, list)
            and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(n, int) and not isinstance(n, bool) for n in p)
                for p in v
            )
        ),
        "a list of [candidate, seed] pairs",
    ),
    "pooled_generations": (
        lambda v: isinstance(v, list) and all(isinstance(g, int) and not isinstance(g, bool) for g in v),
        "a list of generations",
    ),
    "surrogate_prior": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) for k, n in v.items())
        ),
        "counts per source",
    ),
    "surrogate_cache_prior": (
        lambda v: (
            isinstance(v, list)
            and len(v) <= CACHE_PRIOR_LIMIT
            and all(
                isinstance(e, list)
                and len(e) == 2
                and isinstance(e[0], str)
                and (e[1] is None or (isinstance(e[1], list) and all(finite_number(x) for x in e[1])))
                for e in v
            )
        ),
        f"a list of at most {CACHE_PRIOR_LIMIT} [formula, scores or null]",
    ),
}


def setting_digests(config: dict[str, Any]) -> dict[str, str]:
    """A short digest of each search setting of a run's config (``config``, nested ones by dotted name) and of its
    search space's text (``search_space``): what tells a hand-edited config.json from the one the run started with."""
    flat: dict[str, Any] = {"search_space": (config.get("search_space") or {}).get("text")}
    for name, value in (config.get("config") or {}).items():
        if isinstance(value, dict):
            flat.update({f"{name}.{k}": v for k, v in value.items()})
        else:
            flat[name] = value
    return {
        k: hashlib.sha256(json.dumps(_canonical(v), sort_keys=True).encode()).hexdigest()[:16] for k, v in flat.items()
    }


def _canonical(value: Any) -> Any:
    """A setting as its meaning: a whole float as its int (``10000.0``, as a tool like jq rewrites it, is ``10000``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def edited_settings(started: Mapping[str, str] | None, config: dict[str, Any]) -> list[str]:
    """The settings of ``config`` (a run's config.json as it reads now) whose digests differ from ``started``, those
    the run recorded when it started (None for a run made before evoact recorded them: no edits known)."""
    if not started:
        return []
    now = setting_digests(config)
    return sorted(k for k in {*started, *now} if started.get(k) != now.get(k))


def unfit_fact(key: str, value: Any) -> str:
    """What the run fact ``key`` must be, where ``value`` is not that ("" where it fits, or evoact writes no such
    fact)."""
    fits, what = _FACTS.get(key, (lambda v: True, ""))
    return "" if fits(value) else what
