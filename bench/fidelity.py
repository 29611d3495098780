"""Does the short schedule rank functions as the whole one does? The short benchmark table against the full one.

    python bench/fidelity.py --full runs/benchtable-full   # while the full table's build runs: what it has so far
    python bench/fidelity.py                               # the full table, or its parts built so far (bench/data)

The short table trains each function of ``core_unit`` at a quarter of each task's quick schedule, the full table at
the whole of it (what a default quick search trains); both on seeds 0 and 1, built by ``bench/benchtable.py``. Over
the functions that trained to the end on both seeds in both tables: Spearman's rank correlation of their mean
fitness (and per task, of the mean validation measure), against the noise ceiling (how the two seeds of one table
rank the same functions), and how many of one table's top functions are among the other's. Writes
bench/results/benchtable.md with what is in each table. ``--full`` may also name the full build's runs folder: then the
functions both its seed runs have evaluated so far stand for the full table (each seed enumerates the space in its own
shuffled order, so they are a random sample of its functions). Until the full table is whole, the parts of its sharded
build committed in ``bench/data`` (``bench/benchtable.py export --shard K/N``) stand for it, each part a random share
of the space's functions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import evoact  # noqa: E402
from evoact.benchtable import SHIPPED, BenchTable, Entry, Trial, load_table  # noqa: E402
from evoact.genome import parse_shard  # noqa: E402
from evoact.records import Status  # noqa: E402

TOPS = (0.01, 0.05, 0.10)  # top shares compared between the tables


def so_far(runs_dir: Path) -> BenchTable:
    """The functions that every seed run of a table's build (``benchtable-s*``, or every part's ``benchtable-KofN-s*``,
    in ``runs_dir``, finished or not) has evaluated so far, as a table without trees (baselines labelled; the catalog's
    functions not yet in it)."""
    trials: dict[str, dict[int, Trial]] = {}
    names: dict[str, tuple[str, str | None]] = {}
    protocol: dict = {}
    seeds = []
    for path in sorted(p for p in runs_dir.glob("benchtable-*s[0-9]*") if p.is_dir()):  # every part's, every seed's
        run = evoact.open_run(path)
        seed = run.config.seed
        seeds.append(seed)
        protocol = {
            "space": run.config.space,
            "tasks": list(run.config.tasks),
            "baselines": list(run.config.baselines),
            "epoch_scale": run.config.training.epoch_scale,
        }
        for row in run.store.candidates():
            if row.status in (Status.PENDING, Status.DUPLICATE) or row.fingerprint is None:
                continue
            out = row.outcome
            fitness = out.fitness if out.status == Status.OK else None
            trials.setdefault(row.fingerprint, {})[seed] = Trial(
                seed, out.status, out.stage, out.error, fitness, out.seconds or 0.0, out.scores
            )
            names.setdefault(row.fingerprint, (row.formula, row.label))
        run.close()
    seeds = sorted(set(seeds))
    entries = tuple(
        Entry(names[key][0], (), tuple(per_seed[s] for s in seeds), key, names[key][1])
        for key, per_seed in trials.items()
        if sorted(per_seed) == seeds
    )
    return BenchTable(protocol | {"seeds": seeds}, entries)


def from_parts(files: list[Path]) -> BenchTable:
    """The parts of a sharded build present so far (of one N), as one table (a function two parts hold: the first's
    entry)."""
    parts = sorted((load_table(f) for f in files), key=lambda t: parse_shard(t.protocol["shard"]))
    if len({parse_shard(t.protocol["shard"])[1] for t in parts}) > 1:
        sys.exit(f"the parts {', '.join(str(f) for f in files)} split the space in different numbers of parts")
    entries: dict[str, Entry] = {}
    for part in parts:
        for entry in part.entries:
            entries.setdefault(entry.fingerprint or entry.label or entry.formula, entry)
    return BenchTable({**parts[0].protocol, "parts": [p.protocol["shard"] for p in parts]}, tuple(entries.values()))


def describe_so_far(table: BenchTable, source: Path | list[Path]) -> list[str]:
    """What the unfinished full build has so far: its runs, or its parts."""
    seconds = [t.seconds for e in table.entries for t in e.trials if t.trained]
    verdicts = Counter(str(e.trials[0].stage or e.trials[0].status) for e in table.entries if e.label is None)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if isinstance(source, list):
        where = ", ".join(f"`{f.relative_to(ROOT)}`" for f in source)
        n = int(table.protocol["shard"].split("/")[1])
        built = (
            f"- Build: `{table.protocol['command']}`, in {n} parts (`--shard K/{n}`) that separate sessions or"
            f" machines build; parts {', '.join(table.protocol['parts'])} are built. They hold"
            f" {len(table.entries)} functions (each part a random share of the space's, by a hash of the formula);"
        )
    else:
        where = f"`{source}`"
        built = (
            f"- Build: `python bench/benchtable.py build --epoch-scale {table.protocol['epoch_scale']} --runs-dir"
            f" {source}`, still running (resumable). So far both seeds have evaluated {len(table.entries)} functions"
            " (a random sample of the space's: each seed enumerates in its own shuffled order);"
        )
    return [
        f"## The full table, unfinished ({where}, read {when})",
        "",
        built
        + f" verdicts under seed {table.seeds[0]} (evolved functions): "
        + ", ".join(f"{k} {v}" for k, v in verdicts.most_common())
        + ".",
        f"- Training time per evaluation that trained: median {statistics.median(seconds):.2f} s, so far"
        f" {sum(seconds) / 3600:.2f} core-hours.",
        "",
    ]


def describe(table: BenchTable, name: str, path: Path) -> list[str]:
    """What is in one table: its functions, verdicts, time and best entries."""
    verdicts = Counter(str(e.trials[0].stage or e.trials[0].status) for e in table.entries if e.label is None)
    scored = table.scored()
    baselines = [e for e in table.entries if e.label in set(table.protocol["baselines"])]
    published = sorted(
        (e for e in table.entries if e.label and e.label.startswith("published:") and e.fitness is not None),
        key=lambda e: -(e.fitness or 0.0),
    )
    n_published = sum(bool(e.label and e.label.startswith("published:")) for e in table.entries)
    seconds = [t.seconds for e in table.entries for t in e.trials if t.trained]
    return [
        f"## The {name} table (`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`,"
        f" {path.stat().st_size / 1e6:.2f} MB)",
        "",
        f"- Build: `{table.protocol.get('command')}` (resumable enumeration runs, then the catalog's functions, then"
        " the export).",
        f"- Space `{table.space}`: {len(table.trees)} trees, {len(table.entries)} distinct functions after the"
        f" functional-equivalence cache, {len([e for e in table.entries if e.trees and not e.static])} of them past"
        f" static screening, {len(baselines)} of them the baselines and {n_published} the catalog's published"
        " functions (no tree writes most of those).",
        f"- Tasks: {', '.join(table.tasks)} (the default search group), each function on seeds {list(table.seeds)}"
        f" at epoch scale {table.protocol['epoch_scale']} of each task's quick-budget schedule; cascade:"
        f" {table.protocol.get('cascade')}. Built {table.protocol.get('built')} on 2 cores.",
        f"- Verdicts under seed {table.seeds[0]} (evolved functions): "
        + ", ".join(f"{k} {v}" for k, v in verdicts.most_common())
        + f". Trained to the end on every seed: {len(scored)} functions (the true score is their mean fitness).",
        f"- Training time per evaluation that trained: median {statistics.median(seconds):.2f} s, total"
        f" {sum(seconds) / 3600:.2f} core-hours.",
        "- Best fitness (mean of the seeds): "
        + ", ".join(f"`{e.formula}` {e.fitness:.4f}" for e in sorted(scored, key=lambda e: -(e.fitness or 0.0))[:3])
        + "; baselines "
        + ", ".join(f"{e.label} {e.fitness:.4f}" for e in baselines if e.fitness is not None)
        + "; the best published: "
        + ", ".join(f"{(e.label or '').split(':', 1)[1]} {e.fitness:.4f}" for e in published[:6])
        + ".",
        "",
    ]


def _key(entry: Entry) -> str:
    return entry.label or entry.fingerprint or entry.formula


def _value(entry: Entry, task: str, metric: str) -> float:
    """The mean validation measure the task is scored by, higher better (a loss negated)."""
    value = entry.measure(task, metric)
    assert value is not None  # both seeds trained to the end
    return value if metric == "accuracy" else -value


def _seeds_rho(entries: list[Entry]) -> float:
    return float(spearmanr([e.trials[0].fitness for e in entries], [e.trials[1].fitness for e in entries]).statistic)


def compare(short: BenchTable, full: BenchTable) -> list[str]:
    """How the short table ranks the functions both tables trained to the end, against the full one."""
    in_full = {_key(e): e for e in full.entries}
    pairs = [
        (e, in_full[_key(e)])
        for e in short.entries
        if e.fitness is not None and _key(e) in in_full and in_full[_key(e)].fitness is not None
    ]
    s = np.array([a.fitness for a, _ in pairs])
    f = np.array([b.fitness for _, b in pairs])
    verdict = lambda e: str(e.trials[0].stage or e.trials[0].status)  # noqa: E731
    both_verdicts = Counter(
        (verdict(a), verdict(in_full[_key(a)])) for a in short.entries if a.label is None and _key(a) in in_full
    )
    ceiling = [_seeds_rho([a for a, _ in pairs]), _seeds_rho([b for _, b in pairs])]
    lines = [
        "## Does the short schedule rank as the whole one?",
        "",
        f"{len(pairs)} functions (the baselines and published ones among them) trained to the end on both seeds in"
        " both tables. Spearman's rank correlation of the short table's values with the full table's:",
        "",
        "| measure | short vs full | seed 0 vs seed 1, short | seed 0 vs seed 1, full |",
        "|---|---|---|---|",
        f"| fitness (mean of 2 seeds each) | {spearmanr(s, f).statistic:.3f} | {ceiling[0]:.3f} | {ceiling[1]:.3f} |",
    ]
    for task in short.tasks:
        metric = short.protocol["metrics"][task]
        values = [_value(a, task, metric) for a, _ in pairs], [_value(b, task, metric) for _, b in pairs]
        lines.append(f"| {task} validation {metric} (mean of 2 seeds) | {spearmanr(*values).statistic:.3f} | | |")
    order_s = np.argsort(-s, kind="stable")
    order_f = np.argsort(-f, kind="stable")
    lines += [
        "",
        "The seed columns compare one seed with another. Means of two seeds are less noisy: two independent 2-seed"
        " means of one schedule would agree at about 2r/(1+r) (Spearman-Brown), "
        + " and ".join(f"{2 * r / (1 + r):.3f}" for r in ceiling)
        + " here (short, full); that is the ceiling for the short-vs-full column.",
        "",
        "| the full table's top | of them in the short table's top of the same size | in the short table's top"
        " three times that size |",
        "|---|---|---|",
    ]
    for share in TOPS:
        k = max(1, round(share * len(pairs)))
        top_f = set(order_f[:k].tolist())
        lines.append(
            f"| {share:.0%} ({k}) | {len(top_f & set(order_s[:k].tolist()))} |"
            f" {len(top_f & set(order_s[: 3 * k].tolist()))} |"
        )
    best = [pairs[i] for i in order_f[:5]]
    lines += [
        "",
        "The full table's best five, with their place in the short table (of the same functions): "
        + "; ".join(
            f"`{b.formula}` {b.fitness:.4f} (short: #{int(np.where(order_s == pairs.index((a, b)))[0][0]) + 1})"
            for a, b in best
        )
        + ".",
        "",
        "Verdicts under seed 0, short table (rows) against full table (columns), evolved functions of both:",
        "",
    ]
    rows = sorted({a for a, _ in both_verdicts})
    cols = sorted({b for _, b in both_verdicts})
    lines += [
        "| short \\ full | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
        *(f"| {r} | " + " | ".join(str(both_verdicts.get((r, c), 0)) for c in cols) + " |" for r in rows),
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = ROOT / "evoact" / "data"
    parser.add_argument("--short", type=Path, default=data / SHIPPED["short"])
    parser.add_argument("--full", type=Path, default=data / SHIPPED["full"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "benchtable.md")
    args = parser.parse_args()
    parts = sorted((ROOT / "bench" / "data").glob(args.full.name.removesuffix(".json.gz") + "-*of*.json.gz"))
    short = load_table(args.short)
    if args.full.is_dir():
        full, source, read = so_far(args.full), args.full, "the short table and the full build so far"
    elif not args.full.exists() and parts:
        full, source, read = from_parts(parts), parts, "the short table and the full table's parts built so far"
    else:
        full, source, read = load_table(args.full), None, "the two shipped tables"
    lines = [
        "# The activation benchmark tables",
        "",
        f"Command: `python bench/fidelity.py{f' --full {args.full}' if args.full.is_dir() else ''}` (reads {read};"
        " trains nothing).",
        "",
        *describe(short, "short", args.short.resolve()),
        *(describe(full, "full", args.full.resolve()) if source is None else describe_so_far(full, source)),
        *compare(short, full),
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
