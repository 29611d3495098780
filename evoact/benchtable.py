"""The activation benchmark table: every function of an enumerable space trained on the default search tasks, read back.

A table is built by the engine itself (``bench/benchtable.py``: one ``--algorithm enumeration`` run per seed) and
shipped as a compact JSON file; ``load_table`` returns it typed. Searches can then be replayed against it by lookup
instead of training (``bench/replay.py``), and the surrogate stage learns from it.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from evoact.files import write_file
from evoact.formula import X, parse, to_formula
from evoact.genome import Genome, in_shard, parse_shard
from evoact.records import METRICS, Candidate, RecordError, Stage, Status, TaskScore
from evoact.search_space import SearchSpace

FORMAT = "evoact-benchtable"
VERSION = 1
#: The tables shipped with evoact, by schedule (``bench/benchtable.py export`` writes them): a quarter of each task's
#: quick schedule, and the whole of it (what a default quick search trains)
SHIPPED = {"short": "benchtable.json.gz", "full": "benchtable_full.json.gz"}
NO_INPUT = "does not depend on x (never proposed)"


class TableError(ValueError):
    """A file that is not a benchmark table of this version."""


@dataclass(frozen=True)
class Trial:
    """What one seed of the table's protocol gave one function: the cascade's verdict and, where it trained, its
    fitness (relative to that seed's baselines, as a search with that seed scores it) and per-task measures."""

    seed: int
    status: Status
    stage: Stage | None = None
    reason: str | None = None
    fitness: float | None = None
    seconds: float = 0.0  # the evaluation's wall time, training included (0: rejected before training)
    scores: Mapping[str, TaskScore] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Whether this seed trained at all (fully, or up to a quality hurdle)."""
        return bool(self.scores)

    @property
    def answered(self) -> bool:
        """Whether the fitness cache answered it (from another run's training: no verdict or measures of its own)."""
        return self.stage == Stage.CACHE

    def plain(self) -> dict[str, Any]:
        """The JSON form of the table file."""
        out: dict[str, Any] = {"seed": self.seed, "status": str(self.status)}
        out |= {"stage": str(self.stage)} if self.stage else {}
        out |= {k: v for k, v in (("reason", self.reason), ("fitness", self.fitness)) if v is not None}
        out |= {"seconds": round(self.seconds, 3)} if self.seconds else {}
        out |= {"scores": {t: s.plain() for t, s in self.scores.items()}} if self.scores else {}
        return out

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> Trial:
        """A trial read from a table file."""
        fitness = data.get("fitness")
        if fitness is not None and not (isinstance(fitness, (int, float)) and math.isfinite(fitness)):
            raise RecordError(f"fitness {fitness!r} is not a finite number")
        return cls(
            int(data["seed"]),
            Status(data["status"]),
            Stage(data["stage"]) if data.get("stage") else None,
            data.get("reason"),
            None if fitness is None else float(fitness),
            float(data.get("seconds", 0.0)),
            {str(t): TaskScore.from_plain(s) for t, s in data.get("scores", {}).items()},
        )


@dataclass(frozen=True)
class Entry:
    """One function of the table (functionally equivalent trees are one entry): its formula, the trees of the space
    that write it, a baseline's name where it is one, and one trial per seed."""

    formula: str
    trees: tuple[str, ...]
    trials: tuple[Trial, ...]
    fingerprint: str | None = None
    label: str | None = None

    @property
    def static(self) -> bool:
        """Whether static screening rejects it (before any training, the same under every seed)."""
        return bool(self.trials) and self.trials[0].stage == Stage.STATIC

    @property
    def fitness(self) -> float | None:
        """The mean fitness over the seeds (on validation measures, as searches select), None unless every seed
        trained to the end."""
        values = [t.fitness for t in self.trials]
        if not values or any(v is None or t.status != Status.OK for v, t in zip(values, self.trials)):
            return None
        return sum(v for v in values if v is not None) / len(values)

    def measure(self, task: str, metric: str, split: str = "val") -> float | None:
        """The mean over seeds of a task's validation (``val``) or test (``test``) measure ``metric`` names (accuracy,
        or loss: a task measured by loss may report an accuracy too); None unless every seed trained to the end."""
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}: accuracy or loss")
        values = []
        for trial in self.trials:
            score = trial.scores.get(task)
            if trial.status != Status.OK or score is None:
                return None
            values.append(score.validation(metric) if split == "val" else score.measure(metric))
        return None if not values or None in values else sum(v for v in values if v is not None) / len(values)

    def plain(self) -> dict[str, Any]:
        """The JSON form of the table file."""
        out: dict[str, Any] = {"formula": self.formula, "trees": list(self.trees)}
        out |= {k: v for k, v in (("fingerprint", self.fingerprint), ("label", self.label)) if v is not None}
        return out | {"trials": [t.plain() for t in self.trials]}

    @classmethod
    def from_plain(cls, data: Mapping[str, Any]) -> Entry:
        """An entry read from a table file."""
        return cls(
            str(data["formula"]),
            tuple(str(t) for t in data.get("trees", [])),
            tuple(Trial.from_plain(t) for t in data["trials"]),
            data.get("fingerprint"),
            data.get("label"),
        )


@dataclass(frozen=True)
class BenchTable:
    """A benchmark table: how it was made (``protocol``: space, tasks and their metrics, seeds, schedule, versions,
    the command) and its entries, with every tree of the space mapped to its entry."""

    protocol: Mapping[str, Any]
    entries: tuple[Entry, ...]
    _by_tree: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for i, entry in enumerate(self.entries):
            for tree in entry.trees:
                self._by_tree.setdefault(tree, i)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks every function was trained on."""
        return tuple(self.protocol["tasks"])

    @property
    def seeds(self) -> tuple[int, ...]:
        """The training seeds, one trial each."""
        return tuple(self.protocol["seeds"])

    @property
    def space(self) -> str:
        """The search space the table enumerates."""
        return str(self.protocol["space"])

    def entry(self, tree: str) -> Entry:
        """The entry of a tree of the space (a ``KeyError`` naming it if the table lacks it)."""
        if tree not in self._by_tree:
            raise KeyError(f"tree {tree!r} is not in the benchmark table of space {self.space!r}")
        return self.entries[self._by_tree[tree]]

    def index(self, tree: str) -> int:
        """The position of a tree's entry in ``entries``."""
        self.entry(tree)
        return self._by_tree[tree]

    @property
    def trees(self) -> tuple[str, ...]:
        """Every tree of the space the table covers."""
        return tuple(self._by_tree)

    def scored(self) -> list[Entry]:
        """The entries that trained to the end on every seed (those with a true score), baselines left out."""
        return [e for e in self.entries if e.fitness is not None and e.label is None]

    def plain(self) -> dict[str, Any]:
        """The JSON form of the table file."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "protocol": dict(self.protocol),
            "entries": [e.plain() for e in self.entries],
        }

    def save(self, path: str | Path) -> None:
        """Write the table as gzipped JSON (reproducibly: no timestamp in the gzip header)."""
        text = json.dumps(self.plain(), separators=(",", ":"), sort_keys=True).encode()
        packed = io.BytesIO()
        with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as out:
            out.write(text)
        write_file(path, packed.getvalue())  # atomic: a Ctrl-C while writing leaves the earlier table whole


def from_runs(
    space: SearchSpace, runs: Mapping[int, list[Candidate]], protocol: Mapping[str, Any], shard: str = "1/1"
) -> BenchTable:
    """The table of finished enumeration runs of ``space`` (or of one ``shard`` of it), one per seed (seed -> its
    candidates, baselines included): functions keyed by fingerprint (the functional-equivalence cache's), so the seeds
    join where they trained different but equivalent trees, and every tree of the space (the shard) mapped to its
    function. A ``TableError`` if a run is unfinished or a tree has no entry under every seed."""
    genome = Genome(space)
    part = parse_shard(shard)
    formulas = {
        tree: formula
        for tree in genome.all_trees()
        if in_shard(formula := to_formula(genome.to_expr(genome.parse(tree))), part)
    }
    trials: dict[str, dict[int, Trial]] = {}
    names: dict[str, tuple[str, str | None, str | None]] = {}  # key -> formula, fingerprint, label
    tree_keys: dict[str, str] = {}
    for seed, rows in runs.items():
        by_id = {r.id: r for r in rows}
        by_formula = {r.formula: r for r in reversed(rows)}  # the first of each formula (a baseline's: the baseline)

        def evaluated(row: Candidate, by_id: dict[int, Candidate] = by_id) -> Candidate:
            while row.outcome.duplicate_of is not None:
                row = by_id[row.outcome.duplicate_of]
            return row

        for row in rows:
            if row.status == Status.PENDING:
                raise TableError(f"seed {seed}: candidate #{row.id} has no outcome; finish the run first")
            key = _key(evaluated(row))
            if evaluated(row) is row:
                trials.setdefault(key, {})[seed] = _trial(row, seed)
                names.setdefault(key, (row.formula, row.fingerprint, row.label))
            if row.label is not None:
                names[key] = (row.formula, row.fingerprint, row.label)
        for tree, formula in formulas.items():
            if formula not in by_formula and X not in parse(formula).free_symbols:
                key = f"formula:{formula}"  # no search proposes a function that ignores x: a static rejection
                trials.setdefault(key, {})[seed] = Trial(seed, Status.REJECTED, Stage.STATIC, NO_INPUT)
                names.setdefault(key, (formula, None, None))
            elif formula not in by_formula:
                raise TableError(f"seed {seed}: no candidate writes {formula} (tree {tree}); finish the run first")
            else:
                key = _key(evaluated(by_formula[formula]))
            if tree_keys.setdefault(tree, key) != key:
                raise TableError(f"tree {tree} is a different function under seed {seed}")
    seeds = sorted(runs)
    by_key: dict[str, list[str]] = {}
    for tree, key in tree_keys.items():
        by_key.setdefault(key, []).append(tree)
    entries = []
    for key, per_seed in sorted(trials.items(), key=lambda kv: (names[kv[0]][0], kv[0])):
        if sorted(per_seed) != seeds:
            if key in by_key:
                raise TableError(f"{names[key][0]} was evaluated under seeds {sorted(per_seed)} only")
            continue  # a formula no tree of the space writes (a baseline's rewrite): nothing can look it up
        formula, fingerprint, label = names[key]
        trees = tuple(sorted(by_key.get(key, [])))
        entries.append(Entry(formula, trees, tuple(per_seed[s] for s in seeds), fingerprint, label))
    return BenchTable(
        dict(protocol, space=space.name, seeds=seeds) | ({"shard": shard} if part[1] > 1 else {}), tuple(entries)
    )


def merge(space: SearchSpace, parts: Iterable[BenchTable]) -> BenchTable:
    """One table of ``space`` from the parts of a sharded build (``--shard K/N``, each K once, on one protocol): every
    function once, with the trees of every part that wrote it, and per seed the trial of the first part that trained
    it (parts built in one folder share its fitness cache, so a part may hold a cache answer where another trained).
    A ``TableError`` in one line for a missing, repeated or mismatched part, or a seed that only a cache answered."""
    ordered = sorted(parts, key=lambda t: parse_shard(t.protocol.get("shard", "1/1")))
    shards = [parse_shard(t.protocol.get("shard", "1/1")) for t in ordered]
    n = shards[0][1] if shards else 0
    if not shards or shards != [(k, n) for k in range(1, n + 1)]:
        raise TableError(f"parts {[f'{k}/{m}' for k, m in shards]} are not parts 1..N of N, each once")
    first = ordered[0].protocol
    for table in ordered[1:]:
        for name in ("space", "tasks", "seeds", "epoch_scale", "metrics", "baselines", "cascade"):
            if table.protocol.get(name) != first.get(name):
                raise TableError(f"part {table.protocol['shard']}: its {name} differs from part 1's")
    genome = Genome(space)
    entries: dict[str, Entry] = {}
    for table, shard in zip(ordered, shards):
        for tree in table.trees:
            if not in_shard(to_formula(genome.to_expr(genome.parse(tree))), shard):
                raise TableError(
                    f"part {shard[0]}/{n} holds tree {tree}, which is another part's (built with another SymPy?)"
                )
        for entry in table.entries:
            key = entry.fingerprint or entry.label or f"formula:{entry.formula}"
            if key in entries:
                kept = entries[key]
                trials = tuple(a if b.answered or not a.answered else b for a, b in zip(kept.trials, entry.trials))
                entries[key] = replace(kept, trees=tuple(sorted({*kept.trees, *entry.trees})), trials=trials)
            else:
                entries[key] = entry
    for entry in entries.values():
        if answered := [t.seed for t in entry.trials if t.answered]:
            raise TableError(
                f"{entry.formula}: seed {answered[0]} has only the answer of a fitness cache that another build"
                " filled; build a table's parts in a folder of their own (--runs-dir)"
            )
    published = lambda key: str(entries[key].label).startswith("published:")  # noqa: E731
    protocol = {k: v for k, v in first.items() if k != "shard"}
    protocol |= {
        "shards": n,
        "built": max(str(t.protocol.get("built", "")) for t in ordered),
        "evoact": ", ".join(sorted({str(t.protocol.get("evoact")) for t in ordered})),
    }
    table = BenchTable(
        protocol, tuple(entries[k] for k in sorted(entries, key=lambda k: (published(k), entries[k].formula, k)))
    )
    missing = sorted(set(genome.all_trees()) - set(table.trees))
    if missing:
        raise TableError(f"{len(missing)} trees of space {space.name!r} are in no part, e.g. {missing[0]}")
    return table


def _key(row: Candidate) -> str:
    """A function's key in the table: its fingerprint, or its formula if static screening rejected it."""
    return row.fingerprint or f"formula:{row.formula}"


def _trial(row: Candidate, seed: int) -> Trial:
    out = row.outcome
    trained = out.status == Status.OK or bool(out.scores)
    fitness = out.fitness if out.status == Status.OK else None
    return Trial(seed, out.status, out.stage, out.error, fitness, (out.seconds or 0.0) if trained else 0.0, out.scores)


def table_for(
    tasks: tuple[str, ...], epoch_scale: float, tables: Iterable[BenchTable] | None = None
) -> BenchTable | None:
    """Of ``tables`` (default: those shipped), the one trained on ``tasks`` whose schedule is nearest ``epoch_scale``
    (by ratio: a quick run's is the full table's, a tiny run's the short one's); None if none is on these tasks."""
    if tables is None:
        tables = [t for schedule in SHIPPED if (t := _shipped(schedule)) is not None]
    on_tasks = [t for t in tables if t.tasks == tuple(tasks)]
    return min(on_tasks, key=lambda t: abs(math.log(epoch_scale / t.protocol["epoch_scale"])), default=None)


def _shipped(schedule: str) -> BenchTable | None:
    try:
        return load_table(schedule=schedule)
    except TableError:  # not shipped (yet): the full table is built after the short one
        return None


def load_table(path: str | Path | None = None, schedule: str = "short") -> BenchTable:
    """The benchmark table at ``path`` (default: the one shipped with evoact for ``schedule``, ``short`` or ``full``),
    checked; a ``TableError`` in one line otherwise."""
    if path is None and schedule not in SHIPPED:
        raise TableError(f"no benchmark table is shipped for the schedule {schedule!r}: choose one of {list(SHIPPED)}")
    name = str(path) if path is not None else SHIPPED[schedule]
    try:
        if path is None:
            raw = resources.files("evoact.data").joinpath(name).read_bytes()
        else:
            raw = Path(path).read_bytes()
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, ValueError, EOFError) as exc:
        raise TableError(f"cannot read the benchmark table {name}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise TableError(f"{name} is not an {FORMAT} file of version {VERSION}")
    try:
        protocol = data["protocol"]
        if not isinstance(protocol, dict) or not all(k in protocol for k in ("space", "tasks", "seeds")):
            raise RecordError("its protocol lacks the space, the tasks or the seeds")
        entries = tuple(Entry.from_plain(e) for e in data["entries"])
        for entry in entries:
            if [t.seed for t in entry.trials] != list(protocol["seeds"]):
                raise RecordError(
                    f"{entry.formula} has trials for seeds {[t.seed for t in entry.trials]}, not the protocol's"
                )
        return BenchTable(protocol, entries)
    except (KeyError, TypeError, ValueError) as exc:
        raise TableError(f"{name}: a damaged benchmark table ({exc})") from None
