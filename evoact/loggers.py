"""Experiment-tracker loggers: hooks that write a search's events where people watch experiments (local files only).

Each logs, per candidate, its fitness, its score on each task and its formula with the cascade's verdict (step: the
candidate's id), and per run the config and the best fitness so far after each step (step: the generation, or
in async mode the candidates proposed):

- ``TensorBoardLogger(DIR)``: TensorBoard event files in ``DIR/RUN_NAME START`` (each run TensorBoard's own, a
  resume going on in its run's; ``pip install evoact[tensorboard]``);
- ``MLflowLogger(DIR)``: one MLflow run per search (named after its run directory, tagged ``evoact.run_dir`` and
  ``evoact.run``, and continued by a resume) in a local SQLite tracking store ``DIR/mlflow.db``, artifacts in
  ``DIR/artifacts`` (``pip install evoact[mlflow]``; MLflow's telemetry is turned off). Formulas and verdicts go to
  the artifact ``candidates.json``, as MLflow has no text per step. See them with ``mlflow ui --backend-store-uri
  sqlite:///DIR/mlflow.db``.

Pass one to ``evoact.search(..., callbacks=[...])`` or give ``--log-to tensorboard|mlflow DIR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from evoact.hooks import BestSoFar, Hook
from evoact.records import Candidate, RunState, Status
from evoact.run_files import is_run_directory
from evoact.tasks import is_user_task

#: ``--log-to`` names and the extra each needs.
LOGGERS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def _verdict(candidate: Candidate) -> str:
    """A candidate's cascade verdict in words, with the reason where it was not trained to the end."""
    o = candidate.outcome
    verdict = o.status if o.stage is None else f"{o.status} at {o.stage}"
    return verdict + (f": {o.error}" if o.error and o.status != Status.OK else "")


def _measures(candidate: Candidate) -> dict[str, float]:
    """A candidate's finite numbers to plot: its fitness and each task's measures, named ``TASK/val_acc`` and so on."""
    o = candidate.outcome
    out = {"fitness": o.fitness} if o.fitness is not None and math.isfinite(o.fitness) else {}
    for task, score in o.scores.items():
        for measure in ("val_acc", "val_loss", "test_acc", "test_loss"):
            value = getattr(score, measure)
            if value is not None and math.isfinite(value):
                out[f"{_short(task)}/{measure}"] = value
    return out


def _table_row(candidate: Candidate) -> dict[str, Any]:
    """A candidate's row of MLflow's candidates table."""
    o = candidate.outcome
    return {
        "id": candidate.id,
        "label": candidate.label,
        "formula": candidate.formula,
        "fitness": o.fitness,
        "verdict": _verdict(candidate),
    }


def _run_label(config: dict[str, Any]) -> str | None:
    """A run's folder name in a logger's directory: its own name and when it began (``exp1 2026-12-06T02-50-01``),
    so that runs of one name in two runs folders, or made again, stay apart; None for a start that names no run."""
    if not config.get("run_dir"):
        return None
    began = config.get("run_started")
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(began)) if isinstance(began, (int, float)) else ""
    return f"{Path(config['run_dir']).name} {stamp}".strip()


def _short(task: str) -> str:
    """A task's name in metric names: a user task's path (``/home/me/task.py:fn``) becomes its file name and function
    with a short digest of the whole, as TensorBoard groups tags by their slashes and MLflow refuses leading slashes
    and ``..``."""
    if not is_user_task(task) or (re.fullmatch(r"[A-Za-z0-9_\-.:]+", task) and ".." not in task):
        return task  # a built-in task, or a user's MODULE:FUNCTION: already a fine name
    short = re.sub(r"[^A-Za-z0-9_\-.:]", "_", task.replace("\\", "/").rsplit("/", 1)[-1]).strip(".") or "task"
    return f"{short}-{hashlib.sha256(task.encode()).hexdigest()[:8]}"


class _Logger(Hook):
    """What both loggers keep: the best evolved fitness so far, as the ranking orders it, for the per-step curve."""

    def __init__(self) -> None:
        self._so_far = BestSoFar(evolved_only=True)

    def start(self, config: dict[str, Any]) -> None:
        """A session begins: the best so far is its run's alone (one logger may log a loop of searches)."""
        self._so_far = BestSoFar(evolved_only=True)

    @property
    def best(self) -> float:
        """The best evolved fitness so far (the raced mean where raced); -inf before any."""
        best = self._so_far.best
        return -math.inf if best is None else best[0]

    def resumed(self, candidate: Candidate) -> None:
        """A candidate counts toward the best so far (one from a resumed run's earlier sessions too)."""
        self._so_far.update(candidate)

    def raced(self, candidate: Candidate) -> None:
        """A raced mean moved: the best so far follows it (the curve's next point shows it)."""
        self._so_far.update(candidate)


def _log_folder(log_dir: str | Path) -> Path:
    """``log_dir`` as a logger's folder; a one-line ``ValueError`` where writing there could damage what is saved or
    cannot work: a file, or a run directory (whose files are evoact's own)."""
    folder = Path(log_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; a logger writes into a folder")
    if is_run_directory(folder):
        raise ValueError(f"{folder}: a run directory; a logger writes into a folder of its own")
    return folder


def _mlflow_store(folder: Path) -> Path:
    """``folder/mlflow.db``, refused where it is a link or a file other than an MLflow tracking store: MLflow would
    create its tables in any database it is pointed at."""
    store = folder / "mlflow.db"
    if store.is_symlink():
        raise ValueError(f"{store}: a symbolic link; nothing was written through it")
    if store.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)) as db:
                tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error:
            tables = set()
        if not {"experiments", "runs", "alembic_version"} <= tables:
            raise ValueError(f"{store}: not an MLflow tracking store; nothing was written (log to another folder)")
    return store


class TensorBoardLogger(_Logger):
    """Writes a search's candidates, config and best-so-far curve as TensorBoard event files in ``log_dir``."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError(
                "the TensorBoard logger needs the tensorboard package: pip install evoact[tensorboard]"
            ) from None
        super().__init__()
        self.log_dir, self._writer_class = _log_folder(log_dir), SummaryWriter
        self._writer: Any = None
        self._backfill = False  # the run's folder is new in a resumed run: what earlier sessions found is logged too
        self._logged: set[int] = set()  # candidates logged by this session

    @property
    def writer(self) -> Any:
        """The event writer: in ``log_dir``'s folder for the run once ``start`` named it, else in ``log_dir``."""
        if self._writer is None:
            self._writer = self._writer_class(str(self.log_dir))
        return self._writer

    def start(self, config: dict[str, Any]) -> None:
        """Open the run's folder, ``log_dir/RUN_NAME START`` (two runs in one ``log_dir`` stay apart, a run made
        again under an old name too; a resumed run goes on in its own), and log the config (as text: TensorBoard's
        text tab)."""
        super().start(config)
        self.close()  # an earlier search's, where one logger logs several
        folder = self.log_dir / name if (name := _run_label(config)) else self.log_dir
        self._backfill, self._logged = name is not None and not folder.exists(), set()
        self._writer = self._writer_class(str(folder))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2) + "\n```", 0)

    def resumed(self, candidate: Candidate) -> None:
        """A candidate an earlier session finished: logged here too where the run's folder is new (the logger was
        first given to a resume), and counted toward the best so far."""
        if self._backfill:
            self._log(candidate)
        super().resumed(candidate)

    def finished(self, candidate: Candidate) -> None:
        """Log one candidate: fitness (its first seed's, as the algorithm is told it), per-task scores, formula and
        verdict."""
        self._log(candidate)
        super().resumed(candidate)

    def _log(self, candidate: Candidate) -> None:
        if candidate.id in self._logged:  # a resumed run may report a stored candidate twice
            return
        self._logged.add(candidate.id)
        name = candidate.label or f"#{candidate.id}"
        self.writer.add_text("candidates", f"{name} `{candidate.formula}` {_verdict(candidate)}", candidate.id)
        for key, value in _measures(candidate).items():
            self.writer.add_scalar(key, value, candidate.id)

    def scored(self, candidate: Candidate) -> None:
        """Log a baseline's fitness, set after it finished (a multi-task search's)."""
        if (fitness := _measures(candidate).get("fitness")) is not None:
            self.writer.add_scalar("fitness", fitness, candidate.id)

    def step(self, index: int, state: dict[str, Any]) -> None:
        """Log the best evolved fitness so far."""
        if math.isfinite(self.best):
            self.writer.add_scalar("best_fitness", self.best, index)
        self.writer.flush()

    def close(self) -> None:
        """Write what is buffered and close the files."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class MLflowLogger(_Logger):
    """Writes a search as one MLflow run in a local SQLite tracking store under ``log_dir`` (no server, no traffic)."""

    def __init__(self, log_dir: str | Path, experiment: str = "evoact") -> None:
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # nothing leaves this machine
        os.environ["DO_NOT_TRACK"] = "true"
        try:
            from mlflow import MlflowClient
            from mlflow.entities import Metric
        except ImportError:
            raise ImportError("the MLflow logger needs the mlflow package: pip install evoact[mlflow]") from None
        super().__init__()
        folder = _log_folder(log_dir).resolve()
        store = _mlflow_store(folder)
        for name in ("mlflow", "alembic"):  # its set-up logs (tables created, migrations) are not the user's news
            logging.getLogger(name).setLevel(logging.WARNING)
        folder.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=f"sqlite:///{store}")
        self.metric = Metric
        known = self.client.get_experiment_by_name(experiment)
        self.experiment = (
            known.experiment_id
            if known
            else self.client.create_experiment(experiment, artifact_location=(folder / "artifacts").as_uri())
        )
        self.run_id: str | None = None
        self.rows: dict[int, dict[str, Any]] = {}  # candidate id -> its row of the candidates table
        self.logged: set[int] = set()  # candidates whose metrics an earlier session of this MLflow run logged

    def start(self, config: dict[str, Any]) -> None:
        """Open the MLflow run, or the one an earlier session of this search logged to (a resume: the tag
        ``evoact.run``, its directory and start time, finds it; a run made again under an old name gets its own), and
        log the config as its parameters (nested settings as dotted names) and whole
        as the artifact ``config.json``."""
        super().start(config)
        self.rows, self.logged = {}, set()  # an earlier search's, where one logger logs several
        run_dir, identity = str(config.get("run_dir") or ""), f"{config.get('run_dir')}@{config.get('run_started')}"
        quote = next((q for q in "'\"" if q not in identity), None)
        earlier = (
            self.client.search_runs([self.experiment], f"tags.`evoact.run` = {quote}{identity}{quote}", max_results=1)
            if run_dir and quote
            else []
        )
        if earlier:
            self.run_id = earlier[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            self.rows, self.logged = self._logged_rows(), self._logged_steps()
            return
        name = f"evoact seed {config.get('seed')}"
        name = f"{Path(run_dir).name} ({name})" if run_dir else name
        self.run_id = self.client.create_run(self.experiment, run_name=name).info.run_id
        if run_dir:
            self.client.set_tag(self.run_id, "evoact.run_dir", run_dir)
            self.client.set_tag(self.run_id, "evoact.run", identity)  # the directory and when its run began
        flat: dict[str, Any] = {}
        for key, value in config.items():
            if isinstance(value, dict):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        for key, value in flat.items():
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
            self.client.log_param(self.run_id, key, text if len(text) <= 500 else "(long: see config.json)")
        self.client.log_dict(self.run_id, config, "config.json")  # whole, where a parameter would be cut

    def _logged_rows(self) -> dict[int, dict[str, Any]]:
        """The candidates table an earlier session of this MLflow run wrote (none if it wrote none)."""
        import tempfile

        assert self.run_id is not None
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = self.client.download_artifacts(self.run_id, "candidates.json", folder)
            except Exception:  # noqa: BLE001 - MLflow raises its own kinds for a missing artifact
                return {}
            rows = json.loads(Path(path).read_text()).get("candidates", [])
        return {row["id"]: row for row in rows if isinstance(row, dict) and isinstance(row.get("id"), int)}

    def _logged_steps(self) -> set[int]:
        """The candidates an earlier session logged metrics for: its table may lack the last of them (it is written
        once a generation, and that session may have crashed before the next), whose points must not be doubled."""
        assert self.run_id is not None
        keys = [key for key in self.client.get_run(self.run_id).data.metrics if key != "best_fitness"]
        return {m.step for key in keys for m in self.client.get_metric_history(self.run_id, key)}

    def resumed(self, candidate: Candidate) -> None:
        """A candidate an earlier session finished: logged here too unless this MLflow run has it (an earlier session
        logged elsewhere, or nowhere); one whose metrics it has and its table lacks gets its row only."""
        if self.run_id is not None and candidate.id not in self.rows:
            if candidate.id in self.logged:
                self.rows[candidate.id] = _table_row(candidate)
            else:
                self.finished(candidate)
        super().resumed(candidate)

    def finished(self, candidate: Candidate) -> None:
        """Log one candidate's numbers as metrics at step = its id, and keep its formula and verdict for the table."""
        if self.run_id is None:
            return
        now = int(time.time() * 1000)
        metrics = [self.metric(key, value, now, candidate.id) for key, value in _measures(candidate).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)
        self.rows[candidate.id] = _table_row(candidate)
        super().resumed(candidate)

    def scored(self, candidate: Candidate) -> None:
        """Log a baseline's fitness, set after it finished (a multi-task search's), in its metric and its row."""
        if self.run_id is None or (fitness := _measures(candidate).get("fitness")) is None:
            return
        self.client.log_metric(self.run_id, "fitness", fitness, step=candidate.id)
        if candidate.id in self.rows:
            self.rows[candidate.id]["fitness"] = fitness

    def step(self, index: int, state: dict[str, Any]) -> None:
        """Log the best evolved fitness so far, and the candidates table as it stands."""
        if self.run_id is None:
            return
        if math.isfinite(self.best):
            self.client.log_metric(self.run_id, "best_fitness", self.best, step=index)
        self.client.log_dict(self.run_id, {"candidates": list(self.rows.values())}, "candidates.json")

    def end(self, state: str) -> None:
        """Write the candidates table and end the MLflow run: FINISHED when the search finished or a stopping rule
        stopped it, KILLED when it was interrupted (a resume goes on in the same MLflow run); the tag ``evoact.state``
        says which of finished, stopped and interrupted (MLflow has no status for a stop that a resume continues)."""
        if self.run_id is not None:
            self.client.log_dict(self.run_id, {"candidates": list(self.rows.values())}, "candidates.json")
            self.client.set_tag(self.run_id, "evoact.state", state)
            self.client.set_terminated(self.run_id, "KILLED" if state == RunState.INTERRUPTED else "FINISHED")
            self.run_id = None


def make_logger(kind: str, log_dir: str | Path) -> Hook:
    """The logger ``--log-to KIND DIR`` names; a one-line error for an unknown kind."""
    if kind not in LOGGERS:
        raise ValueError(f"--log-to {kind!r}: known loggers are {', '.join(LOGGERS)}")
    return TensorBoardLogger(log_dir) if kind == "tensorboard" else MLflowLogger(log_dir)
