"""Thresholds of the rejection cascade; stored in every run's config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScreeningConfig:
    """Every threshold of the cascade (docs/SCREENING.md explains each)."""

    active: bool = True
    # stage 1: static screening on the probe set
    max_nonfinite: float = 0.01
    flat_tolerance: float = 1e-6
    #: the least |Spearman correlation| of f(x) with x on the probe's N(0, 1) sample: below it the unit throws away
    #: the input's sign (even functions such as x*erf(x) score 0); 0 turns the check off
    min_rank_correlation: float = 0.8
    #: the most a unit may turn against its own trend away from 0 over [-10, 10] (falling after its peak for x > 0,
    #: rising after its trough for x < 0), as a share of its range on N(0, 1): beyond it the unit's tails undo the
    #: sign it keeps near 0, such as (2 - x)*tanh(x); 0 turns the check off, as min_rank_correlation = 0 does
    max_tail_reversal: float = 0.5
    # stage 2: functional-equivalence cache
    fingerprint_bits: int = 16
    evaluations_per_hash: int = 1
    use_cache: bool = True
    # stage 3: stability in a deep random network
    stability_depth: int = 8
    stability_width: int = 64
    stability_steps: int = 3
    vanish_rms: float = 1e-4
    explode_rms: float = 1e4
    max_grad_norm: float = 1e8
    # stage 4: quality hurdle after a short training
    hurdle_fraction: float = 0.2
    hurdle_ratio: float = 0.75
    # the surrogate stage (surrogate.py): train only candidates predicted in the top ``surrogate`` share; 0: off
    surrogate: float = 0.0
    #: the surrogate selecting instead: each generation proposes ``surrogate_pool`` times its quota and trains the
    #: surrogate's top picks, as many as the quota (``Gate.select``); 1: off
    surrogate_pool: int = 1

    @property
    def selecting(self) -> bool:
        """Whether the surrogate ranks a pool of each generation's proposals (rather than gating, or nothing)."""
        return self.surrogate_pool > 1
