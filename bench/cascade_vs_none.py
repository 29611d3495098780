"""Benchmark: the quickstart search with and without the rejection cascade, side by side.

Run:  python bench/cascade_vs_none.py [--budget quick] [--seeds 0 1]
Prints, per seed, proposals, trainings, training seconds, wall time and the best fitness of both runs, and
whether each run's best function would pass the cascade's stability stage.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evoact.compiler import compile_activation
from evoact.config import make_config
from evoact.driver import run_search
from evoact.run import RunReader
from evoact.screening import ScreeningConfig, stability_reason
from evoact.store import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    console = Console(width=200)
    table = Table(title=f"{args.budget} search: cascade vs --no-screening (both measured in this run of the script)")
    for col in (
        "seed",
        "mode",
        "proposed",
        "static rej.",
        "cache hits",
        "unstable",
        "below hurdle",
        "fully trained",
        "failed",
        "train s",
        "wall s",
        "best val acc",
        "best formula",
        "best passes stability?",
    ):
        table.add_column(col, justify="left" if col in ("mode", "best formula", "best passes stability?") else "right")
    ratios, deltas = [], []
    for seed in args.seeds:
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for mode, active in (("cascade", True), ("no-screening", False)):
                run_dir = Path(tmp) / mode / "run"  # separate folders: no shared fitness cache
                start = time.perf_counter()
                run_search(
                    make_config(args.budget, seed=seed, active=active), run_dir, Console(stderr=True, quiet=True)
                )
                wall = time.perf_counter() - start
                store = RunStore.open(run_dir)
                b, best = RunReader(store).cascade(), store.hall_of_fame(1)[0]
                unstable = stability_reason(lambda best=best: compile_activation(best.formula), ScreeningConfig())
                results[mode] = (b, best)
                table.add_row(
                    str(seed),
                    mode,
                    str(b.proposed),
                    str(b.rejected_static),
                    str(b.cache_hits),
                    str(b.rejected_stability),
                    str(b.rejected_quality),
                    str(b.fully_trained),
                    str(b.failed),
                    f"{b.train_seconds:.0f}",
                    f"{wall:.0f}",
                    f"{best.outcome.fitness:.4f}",
                    best.formula,
                    "yes" if unstable is None else f"no: {unstable}",
                )
        ratios.append(results["cascade"][0].train_seconds / results["no-screening"][0].train_seconds)
        deltas.append(results["cascade"][1].outcome.fitness - results["no-screening"][1].outcome.fitness)
    console.print(table)
    val_size = 800
    console.print(f"training seconds, cascade / no-screening, per seed: {', '.join(f'{r:.2f}' for r in ratios)}")
    differences = ", ".join(f"{d:+.4f} ({d * val_size:+.0f} of {val_size} validation examples)" for d in deltas)
    console.print(f"best fitness, cascade minus no-screening, per seed: {differences}")


if __name__ == "__main__":
    main()
