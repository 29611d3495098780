"""Generation checkpoints: the search algorithm's state as checksummed JSON, written atomically.

A checkpoint is written to a temporary file, flushed to disk and renamed over its final name, so a crash
leaves either the old file or the new one. A checksum catches a file damaged anyway (truncated, edited,
a disk error); reading falls back to the newest checkpoint that is intact. JSON only: opening a run
directory received from someone else never executes code.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoact.files import write_file

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1
KEEP = 3
MAX_BYTES = 64_000_000


@dataclass(frozen=True)
class Checkpoint:
    """The state after ``generation`` finished, and the damaged newer checkpoints that were skipped."""

    generation: int
    state: dict[str, Any]
    skipped: tuple[str, ...] = ()


def _digest(state: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _path(run_dir: Path, generation: int) -> Path:
    return run_dir / CHECKPOINT_DIR / f"gen-{generation:05d}.json"


class CheckpointError(OSError):
    """The checkpoint folder is not a plain folder of the run (a symlink, or not a folder)."""


def _folder(run_dir: Path) -> Path:
    """The run's checkpoint folder, refused unless it is a real folder inside the run: never follow a link out."""
    folder = run_dir / CHECKPOINT_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise CheckpointError(
            f"{folder}: not a plain folder (a symbolic link or a file); a run directory's files must be its own"
        )
    return folder


def _checkpoints(folder: Path) -> list[Path]:
    """The checkpoint files in ``folder``: regular files only, never links (pruning must not reach outside the run)."""
    return sorted(p for p in folder.glob("gen-*.json") if not p.is_symlink() and p.is_file())


def write_checkpoint(run_dir: Path, generation: int, state: dict[str, Any]) -> Path:
    """Atomically write the state after ``generation`` and keep only the newest few checkpoints."""
    folder = _folder(run_dir)
    final = _path(run_dir, generation)
    folder.mkdir(exist_ok=True)
    payload = {"format": FORMAT, "generation": generation, "sha256": _digest(state), "state": state}
    for stale in folder.glob(".evoact-*.tmp"):  # a writer killed mid-write left it; this one holds the writer lock
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
    write_file(final, json.dumps(payload, sort_keys=True))  # a fresh temporary name: no planted link is followed
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
    existing = _checkpoints(folder)
    newer = [p for p in existing if p.name > final.name]  # a damaged future the run has now replaced
    older = [p for p in existing if p.name <= final.name]
    for old in newer + older[:-KEEP]:
        old.unlink()
    return final


def _problem(path: Path) -> tuple[dict[str, Any] | None, str]:
    if path.stat().st_size > MAX_BYTES:
        return None, f"larger than {MAX_BYTES} bytes"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:100]})"
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("state"), dict):
        return None, "not an evoact checkpoint of a known format"
    if payload.get("sha256") != _digest(payload["state"]):
        return None, "checksum mismatch (the file was damaged or edited)"
    return payload, ""


def read_checkpoint(
    run_dir: Path, check: Callable[[int, dict[str, Any]], str | None] | None = None
) -> Checkpoint | None:
    """The newest intact checkpoint (None if there is none), naming each one skipped on the way: damaged, a link, or
    (``check`` returns why) holding a state that does not fit the run."""
    skipped = []
    folder = _folder(run_dir)
    links = sorted(p.name for p in folder.glob("gen-*.json") if p.is_symlink() or not p.is_file())
    skipped += [f"{name}: not a regular file (a symbolic link?); ignored" for name in links]
    for path in reversed(_checkpoints(folder)):
        payload, problem = _problem(path)
        if payload is None:
            skipped.append(f"{path.name}: {problem}")
            continue
        generation = payload.get("generation")
        if not isinstance(generation, int) or path.name != _path(run_dir, generation).name:
            skipped.append(f"{path.name}: its generation does not match its name")
            continue
        if check is not None and (mismatch := check(generation, payload["state"])):
            skipped.append(f"{path.name}: {mismatch}")
            continue
        return Checkpoint(generation, payload["state"], tuple(skipped))
    return Checkpoint(-1, {}, tuple(skipped)) if skipped else None
