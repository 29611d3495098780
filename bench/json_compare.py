"""Do the ``--json`` outputs of ``show``, ``runs``, ``inspect`` and ``confirm`` stay the same across a change?

Run:  git worktree add /tmp/before <older commit>
      python bench/json_compare.py --before /tmp/before --run runs/<a finished, confirmed run> [--ignore KEY ...]

Each evoact reads its own copy of the run (a writer may upgrade a run's format), by the same commands; the outputs
are compared as JSON after leaving out the keys named by ``--ignore`` (fields a later change added on purpose),
the run's path, durations and the measured ``cost vs ReLU`` (a timing). Trains nothing: ``confirm`` reuses the
run's stored confirmation trainings, so give it the tasks, top and seeds the run was confirmed with.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _outputs(source: str | None, run: Path, candidate: str, confirm: list[str]) -> dict[str, Any]:
    env = {**os.environ, **({"PYTHONPATH": source} if source else {})}
    commands = {
        "show": ["show", str(run), "--json"],
        "show --status rejected": ["show", str(run), "--json", "--top", "50", "--status", "rejected"],
        "runs": ["runs", str(run.parent), "--json"],
        "inspect": ["inspect", str(run), candidate, "--json"],
        "confirm": ["confirm", str(run), *confirm, "--json"],
    }
    out = {}
    for name, args in commands.items():
        proc = subprocess.run(  # from the run's folder: ``-m`` puts the working directory first on the path
            [sys.executable, "-m", "evoact.cli", *args],
            env=env,
            cwd=run.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        out[name] = json.loads(proc.stdout.replace(str(run.parent), "RUNS"))
    return out


def _strip(value: Any, ignore: set[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: "-" if k == "seconds" or k == "cost vs ReLU" else _strip(v, ignore)
            for k, v in value.items()
            if k not in ignore
        }
    if isinstance(value, list):
        return [_strip(v, ignore) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a source tree of the older evoact (a git worktree)")
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--candidate", default="6", help="the candidate id inspect describes")
    parser.add_argument("--confirm", default="--top 2 --seeds 2 --task mnist1d-cnn --task digits-cnn")
    parser.add_argument("--ignore", nargs="*", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, source in (("before", args.before), ("after", None)):
            copy = Path(tmp) / label / args.run.name
            shutil.copytree(args.run, copy)
            results[label] = _outputs(source, copy, args.candidate, args.confirm.split())
    for name in results["before"]:
        before, after = (_strip(results[k][name], set(args.ignore)) for k in ("before", "after"))
        print(f"{name} --json: {'the same' if before == after else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
