"""Benchmark: which fitness transfers? Score every function of a fixed pool on the search tasks and on held-out tasks,
then ask each fitness rule (per-task score x aggregate) which functions it would select, and how those do held out.

Run:  python bench/fitness_transfer.py [--random 60] [--seeds 0 1] [--workers 2] [--out bench/results/fitness_transfer]

The pool: the five confirmation baselines, the catalog's published activations (beta = 1) and random trees of the
default space that pass static screening. Every function is trained (quick-budget length, no cascade) on the
``general`` suite (what a search scores) and on the ``heldout`` suite (what it never sees), with each seed. A
rule's fitness is computed from the ``general`` validation measures exactly as a search would (references: the best
of relu, gelu, silu and tanh); a function's held-out score is the mean over held-out tasks of its test measure
relative to the best of the same four baselines (accuracy / best accuracy, or best loss / loss), averaged over
seeds. Reported per rule: Spearman's rank correlation between fitness and held-out score over the pool, and the
mean held-out score of the rule's top 1, 3 and 10.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evoact.baselines import baseline_formula  # noqa: E402
from evoact.catalog import CATALOG  # noqa: E402
from evoact.confirmation import CONFIRM_BASELINES  # noqa: E402
from evoact.evaluation import make_job  # noqa: E402
from evoact.formula import parse, to_formula  # noqa: E402
from evoact.genome import (
    Genome,  # noqa: E402
    load_search_space,  # noqa: E402
)
from evoact.records import Candidate, Outcome, TaskScore  # noqa: E402
from evoact.scoring import AGGREGATES, SCORES, fitness, references  # noqa: E402
from evoact.screening import ScreeningConfig, screen_static  # noqa: E402
from evoact.tasks import SUITES, TASKS, get_task  # noqa: E402
from evoact.training import TrainConfig  # noqa: E402
from evoact.workers import WorkerPool  # noqa: E402

REFERENCE_BASELINES = ("relu", "gelu", "silu", "tanh")  # a search's default baselines
STRONG_BASELINES = ("gelu", "silu", "mish")  # what the README's goal compares against


def pool(random_trees: int, seed: int) -> dict[str, str]:
    """Name -> canonical formula: baselines, the catalog (beta = 1), random trees that pass static screening."""
    out = {name: baseline_formula(name) for name in CONFIRM_BASELINES}
    for known in CATALOG:
        expr = parse(known.formula)
        formula = to_formula(expr.subs({s: 1 for s in expr.free_symbols if s.name == "beta"}))
        if formula not in out.values():
            out[known.name] = formula
    space = load_search_space("default")
    genome, rng_state = Genome(space), random.getstate()
    random.seed(seed)
    seen = set(out.values())
    try:
        while sum(name.startswith("random") for name in out) < random_trees:
            expr = genome.to_expr(genome.random_tree())
            formula = to_formula(expr)
            if formula in seen or not any(s.name == "x" for s in expr.free_symbols):
                continue
            seen.add(formula)
            (verdict,) = screen_static([formula], [None], space.learnable, None, ScreeningConfig())
            if verdict.reason is None:
                out[f"random {sum(n.startswith('random') for n in out) + 1}"] = formula
    finally:
        random.setstate(rng_state)
    return out


def train_all(functions: dict[str, str], tasks: list[str], seeds: list[int], workers: int) -> dict:
    """(name, task, seed) -> TaskScore, for every function, task and seed (failures left out)."""
    for task in tasks:
        get_task(task).prepare()
    todo = [(name, task, seed) for name in functions for task in tasks for seed in seeds]
    pool_ = WorkerPool(workers, timeout=600)
    out, start = {}, time.monotonic()
    try:
        jobs = [make_job(functions[n], (t,), TrainConfig(seed=s), {"beta": 1.0}) for n, t, s in todo]
        for done, (index, result) in enumerate(pool_.imap(jobs), 1):
            name, task, seed = todo[index]
            if result["status"] == "ok":
                out[(name, task, seed)] = TaskScore.from_plain(result["scores"][task])
            if done % 50 == 0:
                print(f"{done}/{len(todo)} trainings, {time.monotonic() - start:.0f} s", flush=True)
    finally:
        pool_.close()
    return out


def relative(mine: TaskScore, refs: list[TaskScore], metric: str) -> float:
    """A test measure relative to the best of ``refs`` (accuracy / best accuracy, or best loss / loss): 1.0 matches
    it."""
    if metric == "loss":
        return min(r.test_loss for r in refs) / mine.test_loss
    return mine.test_acc / max(r.test_acc for r in refs)


def heldout_score(name: str, scores: dict, tasks: list[str], seeds: list[int], metrics: dict[str, str]) -> float | None:
    """Mean over held-out tasks and seeds of the test measure relative to the best reference baseline of that seed."""
    values = []
    for seed in seeds:
        for task in tasks:
            mine = scores.get((name, task, seed))
            refs = [s for b in REFERENCE_BASELINES if (s := scores.get((b, task, seed))) is not None]
            if mine is None or not refs:
                return None
            values.append(relative(mine, refs, metrics[task]))
    return statistics.fmean(values)


def heldout_ratios(
    name: str, scores: dict, tasks: list[str], seeds: list[int], metrics: dict[str, str]
) -> dict[str, float]:
    """Per held-out task, how ``name`` does against the best of GELU, SiLU and Mish (test measure ratio, mean over
    seeds; below 1 is worse): the README goal's comparison, over every ``heldout`` suite task outside ``tasks``
    except periodic-mlp, whose extrapolation losses swing too much between two seeds."""
    ratios = {}
    for task in (t for t in SUITES["heldout"] if t not in tasks and t != "periodic-mlp"):
        values = []
        for seed in seeds:
            mine, refs = scores.get((name, task, seed)), [scores.get((b, task, seed)) for b in STRONG_BASELINES]
            if mine is None or None in refs:
                break
            values.append(relative(mine, refs, metrics[task]))
        else:
            ratios[task] = statistics.fmean(values)
    return ratios


def worst_heldout(name: str, scores: dict, tasks: list[str], seeds: list[int], metrics: dict[str, str]) -> float:
    """``name``'s ratio on the held-out task where it does worst (NaN if none is known)."""
    return min(heldout_ratios(name, scores, tasks, seeds, metrics).values(), default=float("nan"))


def rule_fitness(
    name: str, scores: dict, tasks: list[str], seeds: list[int], metrics: dict[str, str], score: str, how: str
) -> float | None:
    """The fitness a search with this rule gives ``name`` on ``tasks`` (mean over seeds), references from this pool."""
    values = []
    for seed in seeds:
        mine = {t: scores[(name, t, seed)] for t in tasks if (name, t, seed) in scores}
        baselines = [
            Candidate(
                0,
                "",
                "baseline",
                label=b,
                outcome=Outcome("ok", scores={t: scores[(b, t, seed)] for t in tasks if (b, t, seed) in scores}),
            )
            for b in REFERENCE_BASELINES
        ]
        refs = references(baselines, tasks, metrics, score)
        value = fitness(mine, tasks, refs, (), metrics, score, how)
        if value is None:
            return None
        values.append(value)
    return statistics.fmean(values)


VARIANTS = {  # search task sets compared; held-out truth uses only tasks outside all of them
    "periodic, deep MLP, ResNet, transformer": [
        "periodic-mlp",
        "mnist1d-deep-mlp",
        "mnist1d-resnet",
        "text-transformer",
    ],
    "deep MLP, ResNet, transformer": ["mnist1d-deep-mlp", "mnist1d-resnet", "text-transformer"],
    "deep MLP, ResNet, transformer, feynman": ["mnist1d-deep-mlp", "mnist1d-resnet", "text-transformer", "feynman-mlp"],
    "deep MLP, ResNet, transformer, friedman": [
        "mnist1d-deep-mlp",
        "mnist1d-resnet",
        "text-transformer",
        "friedman-mlp",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="bench/results/fitness_transfer")
    parser.add_argument("--scores", help="re-analyse the trainings recorded in this JSON instead of training")
    args = parser.parse_args()
    every = sorted({t for tasks in VARIANTS.values() for t in tasks} | set(SUITES["general"]) | set(SUITES["heldout"]))
    held = [t for t in every if all(t not in tasks for tasks in VARIANTS.values())]
    held_goal = [t for t in SUITES["heldout"] if t != "periodic-mlp"]
    metrics = {t: TASKS[t].metric for t in every}
    if args.scores:
        recorded = json.loads(Path(args.scores).read_text())
        functions, args.seeds, minutes = recorded["functions"], recorded["seeds"], recorded.get("minutes", 42)
        scores = {
            (n, t, int(s)): TaskScore.from_plain(v)
            for key, v in recorded["scores"].items()
            for n, t, s in [key.rsplit("|", 2)]
        }
        command = recorded.get(
            "command", f"python bench/fitness_transfer.py --random {args.random} --seeds 0 1 --workers 2"
        )
        missing = [t for t in every if not any(key[1] == t for key in scores)]
        if missing:  # a task added since: train only it, and keep it with the rest
            print(f"training {len(functions)} functions x {missing} x {len(args.seeds)} seeds", flush=True)
            started = time.monotonic()
            scores.update(train_all(functions, missing, args.seeds, args.workers))
            minutes += (time.monotonic() - started) / 60
            command += f"; then {', '.join(missing)} added by python bench/fitness_transfer.py --scores {args.scores}"
    else:
        functions = pool(args.random, 0)
        print(f"{len(functions)} functions x {len(every)} tasks x {len(args.seeds)} seeds", flush=True)
        started = time.monotonic()
        scores = train_all(functions, every, args.seeds, args.workers)
        minutes = (time.monotonic() - started) / 60
        command = (
            f"python bench/fitness_transfer.py --random {args.random} --seeds {' '.join(map(str, args.seeds))}"
            f" --workers {args.workers}"
        )
    truth = {n: v for n in functions if (v := heldout_score(n, scores, held, args.seeds, metrics)) is not None}
    rows = []
    for label, tasks in VARIANTS.items():
        for score in SCORES:
            for how in AGGREGATES:
                fit = {
                    n: v
                    for n in truth
                    if (v := rule_fitness(n, scores, tasks, args.seeds, metrics, score, how)) is not None
                }
                ranked = sorted(fit, key=lambda n: -fit[n])
                rho = spearmanr([fit[n] for n in ranked], [truth[n] for n in ranked]).statistic
                top = {k: statistics.fmean(truth[n] for n in ranked[:k]) for k in (1, 3, 10)}
                worst = {
                    k: statistics.fmean(worst_heldout(n, scores, tasks, args.seeds, metrics) for n in ranked[:k])
                    for k in (1, 3, 5)
                }
                rows.append(
                    {
                        "tasks": label,
                        "score": score,
                        "aggregate": how,
                        "functions": len(ranked),
                        "spearman": rho,
                        **{f"held_out_top{k}": v for k, v in top.items()},
                        "top3": ranked[:3],
                        **{f"worst_task_top{k}": v for k, v in worst.items()},
                    }
                )
    best_possible = sorted(truth.values(), reverse=True)
    lines = [
        f"# Which fitness transfers to held-out tasks?"
        f" ({len(functions)} functions, seeds {args.seeds}, {minutes:.0f} min)",
        "",
        f"Command: `{command}`" + (f", re-analysed with `--scores {args.scores}`" if args.scores else ""),
        "",
        f"Held-out tasks (in no search set): {', '.join(held)}.",
        "Held-out score: mean over held-out tasks and seeds of the test measure relative to the best of relu, gelu,"
        " silu and tanh (1.0 = as good as the best of them; accuracy ratio, or loss ratio best/mine).",
        f"For scale: the best function of the pool held out scores {best_possible[0]:.4f},"
        f" the 10th {best_possible[9]:.4f},"
        f" the median {statistics.median(best_possible):.4f}; relu {truth.get('relu', float('nan')):.4f},"
        f" gelu {truth.get('gelu', float('nan')):.4f}, silu {truth.get('silu', float('nan')):.4f},"
        f" mish {truth.get('mish', float('nan')):.4f}.",
        "",
        "Worst held-out task: for each function the rule ranks in its top 1, 3 or 5 (mean over them), its score on"
        " the held-out task where it does worst against the best of GELU, SiLU and Mish (test measure ratio, mean"
        " over seeds; below 1 is worse), over every `heldout` suite task the search set does not use, regression"
        " included, except periodic-mlp (its extrapolation losses swing by half between two seeds).",
        "",
        "| search tasks | score | aggregate | Spearman (fitness vs held-out) | held-out score of top 1 | top 3"
        " | top 10 | worst held-out task, top 1 | top 3 | top 5 | top 3 by fitness |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tasks']} | {r['score']} | {r['aggregate']} | {r['spearman']:.3f} | {r['held_out_top1']:.4f} |"
            f" {r['held_out_top3']:.4f} | {r['held_out_top10']:.4f} |"
            f" {r['worst_task_top1']:.3f} | {r['worst_task_top3']:.3f} | {r['worst_task_top5']:.3f} |"
            f" {', '.join(r['top3'])} |"
        )
    pool_worst = {
        n: r for n in functions if len(r := heldout_ratios(n, scores, [], args.seeds, metrics)) == len(held_goal)
    }
    by_worst = sorted(pool_worst, key=lambda n: -min(pool_worst[n].values()))
    lines += [
        "",
        "## Could any function of the pool meet the goal?",
        "",
        f"Every function of the pool by its worst task among {', '.join(held_goal)} (the goal's held-out tasks,"
        " periodic-mlp aside), against the best of GELU, SiLU and Mish on each (test measure ratio, mean over"
        f" seeds; 1.0 = as good as the best of them). {sum(min(r.values()) >= 0.99 for r in pool_worst.values())}"
        f" of {len(pool_worst)} functions come within 1% of it on every task; the 10 best:",
        "",
        "| function | worst task | its ratio | " + " | ".join(held_goal) + " |",
        "|---|---|---|" + "---|" * len(held_goal),
    ]
    for n in by_worst[:10]:
        worst = min(pool_worst[n], key=pool_worst[n].get)
        lines.append(
            f"| {n} | {worst} | {pool_worst[n][worst]:.3f} | "
            + " | ".join(f"{pool_worst[n][t]:.3f}" for t in held_goal)
            + " |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "command": command,
                "minutes": minutes,
                "functions": functions,
                "seeds": args.seeds,
                "held_out_tasks": held,
                "rules": rows,
                "held_out": truth,
                "scores": {f"{n}|{t}|{s}": v.plain() for (n, t, s), v in scores.items()},
            },
            indent=1,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
