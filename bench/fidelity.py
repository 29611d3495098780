"""Does the benchmark table's shortened schedule rank functions as the full one does? And what is in the table.

    evoact search --space core_unit --algorithm enumeration --mode generational --epoch-scale 1 --race 100,2 \\
        --population 100 --generations 1 --seed 0 --runs-dir runs --name fidelity-s0
    python bench/fidelity.py runs/fidelity-s0

The run trains the first 100 functions of the table's seed-0 order past static screening at the quick budget's
full schedule (epoch scale 1) on two seeds each (racing every one). Over the functions that trained to the end at
both lengths, Spearman's rank correlation of the full schedule's mean fitness (and per task, the mean validation
measure) with the table's. Writes bench/results/benchtable.md with the table's contents.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import evoact  # noqa: E402
from evoact.benchtable import load_table  # noqa: E402
from evoact.records import Status  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "benchtable.md")
    args = parser.parse_args()
    table = load_table()
    by_fingerprint = {e.fingerprint: e for e in table.entries if e.fingerprint}
    run = evoact.open_run(args.run)
    rows = [r for r in run.store.candidates() if r.label is None and r.status == Status.OK]
    races = {r.candidate: r for r in run.store.races() if r.status == Status.OK}
    pairs = []  # (table entry, full-length mean fitness, full-length per-task measures of the first seed)
    for row in rows:
        entry = by_fingerprint.get(row.fingerprint)
        if entry is None or entry.fitness is None or row.id not in races or row.raced_fitness is None:
            continue
        pairs.append((entry, row.raced_fitness, row.outcome.scores, (row.outcome.fitness, races[row.id].fitness)))
    short = np.array([e.fitness for e, _, _, _ in pairs])
    full = np.array([f for _, f, _, _ in pairs])
    # the noise ceiling: how two seeds of one schedule rank the same functions
    short_seeds = spearmanr([e.trials[0].fitness for e, *_ in pairs], [e.trials[1].fitness for e, *_ in pairs])
    full_seeds = spearmanr([s[0] for *_, s in pairs], [s[1] for *_, s in pairs])
    everything = table.scored()
    all_seeds = spearmanr([e.trials[0].fitness for e in everything], [e.trials[1].fitness for e in everything])
    per_task = {}
    for task in table.tasks:
        s = [e.trials[0].scores[task] for e, *_ in pairs]
        f = [scores[task] for _, _, scores, _ in pairs]
        value = lambda t: t.val_acc if t.val_acc is not None else -t.val_loss  # noqa: E731
        per_task[task] = spearmanr([value(t) for t in s], [value(t) for t in f]).statistic
    run.close()

    verdicts = Counter()
    for entry in table.entries:
        if entry.label is not None:
            continue
        trial = entry.trials[0]
        verdicts[str(trial.stage or trial.status)] += 1
    scored = table.scored()
    baselines = [e for e in table.entries if e.label in set(table.protocol["baselines"])]
    published = sorted(
        (e for e in table.entries if e.label and e.label.startswith("published:") and e.fitness is not None),
        key=lambda e: -e.fitness,
    )
    published_all = sum(bool(e.label and e.label.startswith("published:")) for e in table.entries)
    seconds = [t.seconds for e in table.entries for t in e.trials if t.trained]
    size = (ROOT / "evoact" / "data" / "benchtable.json.gz").stat().st_size
    lines = [
        "# The activation benchmark table",
        "",
        "Build: `python bench/benchtable.py build && python bench/benchtable.py catalog && python bench/benchtable.py"
        " export` (two `--algorithm enumeration` runs, resumable; the catalog's functions; then the export to"
        " `evoact/data/benchtable.json.gz`). Fidelity check: the commands at the top of `bench/fidelity.py`, then"
        " `python bench/fidelity.py runs/fidelity-s0`.",
        "",
        f"- Space `{table.space}`: {len(table.trees)} trees, {len(table.entries)} distinct functions after the"
        f" functional-equivalence cache, {len([e for e in table.entries if e.trees and not e.static])} of them past"
        f" static screening, {len(baselines)} of them the baselines and {published_all} the catalog's published"
        f" functions (no tree writes most of those); {size / 1e6:.2f} MB.",
        f"- Tasks: {', '.join(table.tasks)} (the default search group), each function on seeds {list(table.seeds)}"
        f" at epoch scale {table.protocol['epoch_scale']} of each task's quick-budget schedule, under the default"
        f" cascade. Built {table.protocol.get('built')} on 2 cores.",
        f"- Verdicts under seed {table.seeds[0]} (evolved functions): "
        + ", ".join(f"{k} {v}" for k, v in verdicts.most_common())
        + f". Trained to the end on every seed: {len(scored)} functions (the true score is their mean fitness).",
        f"- Training time per evaluation that trained: median {statistics.median(seconds):.2f} s, total"
        f" {sum(seconds) / 3600:.2f} core-hours.",
        "- Best fitness (mean of the seeds, at this schedule): "
        + ", ".join(f"`{e.formula}` {e.fitness:.4f}" for e in sorted(scored, key=lambda e: -e.fitness)[:3])
        + "; baselines "
        + ", ".join(f"{e.label} {e.fitness:.4f}" for e in baselines if e.fitness is not None)
        + "; the best published: "
        + ", ".join(f"{e.label.split(':', 1)[1]} {e.fitness:.4f}" for e in published[:6])
        + ".",
        "",
        "## Does the shortened schedule rank as the full one?",
        "",
        f"{len(pairs)} functions trained to the end both in the table (epoch scale {table.protocol['epoch_scale']},"
        " mean of 2 seeds) and at the quick budget's full schedule (epoch scale 1, mean of 2 seeds).",
        "",
        "| measure | Spearman's rank correlation, short vs full |",
        "|---|---|",
        f"| fitness (mean of 2 seeds each) | {spearmanr(short, full).statistic:.3f} |",
        f"| for scale: seed 0 vs seed 1, short schedule, these functions | {short_seeds.statistic:.3f} |",
        f"| for scale: seed 0 vs seed 1, full schedule, these functions | {full_seeds.statistic:.3f} |",
        f"| for scale: seed 0 vs seed 1, short schedule, all {len(everything)} | {all_seeds.statistic:.3f} |",
        *(f"| {task} validation measure (one seed each) | {rho:.3f} |" for task, rho in per_task.items()),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
