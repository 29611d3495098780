"""User tasks: ``--task module:function`` or ``--task path/to/file.py:function``, a function that trains and scores.

The function is called as ``function(make_activation, seed=..., epochs=...)`` (25 epochs at the quick budget,
scaled by the budget, or ``--epochs``): it builds its model with
``make_activation()`` for every nonlinearity, trains it, and returns a mapping with ``val_acc`` (what selection
uses, higher is better) and ``test_acc`` (what ``evoact confirm`` compares). A function with the attribute
``metric = "loss"`` (a regression) returns ``val_loss`` and ``test_loss`` instead, lower is better. It runs inside
the Ray workers, imported the same way.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import io
import math
import os
import sys
import time
import tokenize
import traceback
from collections.abc import Callable, Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from evoact.records import METRICS
from evoact.tasks.base import COMPILER, ActivationFactory, Task, source_digest
from evoact.training import Hurdle, TaskError, TrainConfig, TrainingError, TrainResult

#: The epochs a user task is asked for at the quick budget (scaled by the budget, or the run's ``--epochs``).
EPOCHS = 25
#: The most helper files a task's cache key and load stamp follow (``_helper_files``).
MAX_HELPERS = 200


def is_user_task(name: str) -> bool:
    """Whether a task name refers to a user's function rather than a built-in task."""
    return ":" in name


def canonical_user_task(name: str) -> str:
    """The spec a run records: a file path made absolute, so workers and a resume find the same file."""
    target, _, function = name.rpartition(":")
    if target.endswith(".py"):
        target = str(Path(target).expanduser().resolve())
    return f"{target}:{function}"


def load_user_function(name: str) -> Callable[..., Any]:
    """Import the module or file and return the function; a one-line error naming what is missing. A file edited
    since it was last imported here, or one of its helpers, is imported again (a notebook's session, or a Ray worker
    that runs job after job, must not train with the old code)."""
    return _load_user_function(name, _stamp(name.rpartition(":")[0]))


def _task_file(target: str) -> Path | None:
    """The file a task's module is (a module's: where it would be imported from), None if there is none."""
    if target.endswith(".py"):
        return Path(target)
    try:
        _current_directory_importable()
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _module_name(target: str) -> str:
    """The name a task's module is imported under (a task file's: one of its own, from its path)."""
    return f"evoact_user_task_{hashlib.sha256(target.encode()).hexdigest()[:12]}" if target.endswith(".py") else target


def _stamp(target: str) -> tuple[tuple[str, int, int], ...] | None:
    """The time and size of a task's file and of its helpers' (``_helper_files``), None if there is no file."""
    path = _task_file(target)
    try:
        files = [path.resolve(), *_helper_files(path, _module_name(target))] if path else []
        return tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in files) or None
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop
        return None


@functools.lru_cache(maxsize=32)
def _load_user_function(name: str, stamp: tuple[tuple[str, int, int], ...] | None) -> Callable[..., Any]:
    """``load_user_function`` for one version of the file and its helpers (``stamp``): imported afresh, with its
    helpers, since this process may hold them from before an edit (or another task's helpers of the same name)."""
    target, _, function = name.rpartition(":")
    if not target or not function:
        raise ValueError(f"task {name!r}: a user task is MODULE:FUNCTION or FILE.py:FUNCTION")
    if target.endswith(".py") and not Path(target).is_file():
        raise ValueError(f"task {name!r}: no such file {target}")
    module_name = _module_name(target)
    root = _import_root(Path(stamp[0][0]), module_name) if stamp else None
    if stamp and root is not None and not _installed(root):  # the user's own code: import it, its helpers afresh
        for dotted in [module_name, *(_dotted(Path(f), root) for f, _, _ in stamp[1:])]:
            parts = dotted.split(".")
            for depth in range(1, len(parts) + 1):  # its packages too: a package holds its old submodules
                name_here = ".".join(parts[:depth])
                if _user_module(sys.modules.get(name_here)):
                    del sys.modules[name_here]
    try:
        if target.endswith(".py"):
            _importable(str(Path(target).resolve().parent))  # its helpers beside it, as ``python file.py`` finds them
            spec = importlib.util.spec_from_file_location(module_name, target)
            if spec is None or spec.loader is None:
                raise ImportError(f"{target} is not a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # as an import would: dataclasses and pickling look the module up
            spec.loader.exec_module(module)
        elif target in sys.modules:  # an installed module imported before: again, as it may have changed since
            module = importlib.reload(sys.modules[target])
        else:
            _current_directory_importable()
            module = importlib.import_module(target)
    except BaseException as exc:  # the user's module failed while it was imported (SystemExit and all)
        if isinstance(exc, KeyboardInterrupt):
            raise
        if target.endswith(".py"):
            sys.modules.pop(module_name, None)  # as a failed import leaves nothing behind
        raise ValueError(f"task {name!r}: {_import_failure(target, exc)}") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        functions = [k for k, v in vars(module).items() if inspect.isfunction(v) and not k.startswith("_")]
        close = get_close_matches(function, functions, n=1)
        raise ValueError(
            f"task {name!r}: {target} has no function {function!r}" + (f"; did you mean {close[0]!r}?" if close else "")
        )
    _check_signature(name, function, fn)
    if (metric := _metric_of(fn)) not in METRICS:
        raise ValueError(
            f"task {name!r}: {function}.metric is {metric!r}; use 'accuracy' (returns val_acc, higher is"
            " better) or 'loss' (returns val_loss, lower is better)"
        )
    return fn


def _defining(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function a task is: itself, what a ``functools.partial`` of it calls, what a decorator (with
    ``functools.wraps``) wraps, or a callable object's class: the code whose edits change what it trains."""
    fn = inspect.unwrap(getattr(fn, "func", fn))
    return fn if inspect.isroutine(fn) or inspect.isclass(fn) else type(fn)


def _metric_of(fn: Callable[..., Any]) -> str:
    """What a task function returns: ``accuracy`` unless it (or, for a partial, its function) says ``loss``."""
    return getattr(fn, "metric", getattr(_defining(fn), "metric", "accuracy"))


def _current_directory_importable() -> None:
    """Put the current directory on ``sys.path``, as ``python -m`` does: ``evoact`` is a console script, whose path
    starts at its own folder, and the README promises ``--task MODULE:FUNCTION`` from the current directory."""
    if not any(entry in ("", ".") for entry in sys.path):
        _importable(os.getcwd())


def _importable(folder: str) -> None:
    """``folder`` on ``sys.path`` (first), unless it is there already."""
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _import_failure(target: str, exc: BaseException) -> str:
    """Why importing a user's module failed, in one line, with the place in their file where Python can tell it."""
    if isinstance(exc, SyntaxError):
        return f"{exc.filename}, line {exc.lineno}: {exc.msg}"
    if isinstance(exc, ModuleNotFoundError) and not target.endswith(".py") and "/" in target:
        return f"cannot import {target}: a path names a task by its file, with .py: {target}.py:FUNCTION"
    if isinstance(exc, ModuleNotFoundError) and exc.name == target.split(".")[0] and not target.endswith(".py"):
        return (
            f"cannot import {target} (no module {exc.name!r} here): a MODULE:FUNCTION task is imported from the"
            f" folder the command runs in ({os.getcwd()}) or PYTHONPATH; run the command there, or name the task"
            " by its file, FILE.py:FUNCTION"
        )
    if isinstance(exc, ImportError):
        return f"cannot import {target} ({' '.join(str(exc).split())})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}, line {frames[-1].lineno}" if frames else ""
    return f"importing {target} raised {type(exc).__name__}{where}: {' '.join(str(exc).split())}"


def _check_signature(name: str, function: str, fn: Callable[..., Any]) -> None:
    """A one-line error unless ``fn`` can be called as ``fn(make_activation, seed=..., epochs=...)`` (judged on the
    decorated signature too, where a decorator supplies arguments itself)."""
    shapes = []
    for follow in (True, False):
        try:
            signature = inspect.signature(fn, follow_wrapped=follow)
        except (TypeError, ValueError):  # a callable without a signature (a builtin): it is called and judged then
            return
        try:
            signature.bind(None, seed=0, epochs=1)  # any make_activation: only the call's shape matters
            return
        except TypeError:
            shapes.append(signature)
    raise ValueError(
        f"task {name!r}: {function}{shapes[0]} cannot be called as {function}(make_activation, seed=..., epochs=...)"
    )


def task_function_hint(task: Any) -> str:
    """For a function given as a task: how to name it instead (``'FILE.py:FUNCTION'``, which workers import)."""
    if not callable(task):
        return ""
    generic = "; a user task is named 'FILE.py:FUNCTION', a function defined at the top of a file the workers import"
    try:
        source = inspect.getsourcefile(task)
    except TypeError:  # a built-in
        return generic
    name = getattr(task, "__qualname__", "")
    if source is None or not Path(source).is_file() or not name.isidentifier():  # a notebook's, a lambda, a method
        return generic
    if getattr(task, "__module__", None) == "__main__":  # importing the script would run its search again
        return (
            f"{generic}: move {name} from this script into a file of its own (the workers would import the script,"
            f" running it again) and give that file's path"
        )
    return f"; name the function instead: tasks=[{f'{source}:{name}'!r}]"


class UserTask(Task):
    """A user's function that builds, trains and scores a model from an activation factory."""

    def __init__(self, name: str) -> None:
        self.name = canonical_user_task(name)
        self.description = f"user task {self.name}"
        self.function = load_user_function(self.name)
        self.metric = _metric_of(self.function)

    def revision(self) -> str:
        """A digest of the user's code (``code``) and of the compiler: editing any of them starts a new cache
        revision."""
        return self._revision(self.code())

    def revisions(self) -> frozenset[str]:
        """``revision``'s, and the one made from the whole files' digest (before comments were set aside)."""
        return frozenset(self._revision(code) for code in self.codes())

    def _revision(self, code: str) -> str:
        return hashlib.sha256(f"{source_digest(*COMPILER)}:{code}".encode()).hexdigest()[:16]

    def code(self) -> str:
        """A digest of the code of the file that defines the user's function and of the modules it loaded from its
        own folder (its helpers), comments and blank lines aside: what a run records, so that a resume never ranks
        results of two versions of a task together (a comment added is the same task)."""
        return self._digest(_meaning)

    def codes(self) -> frozenset[str]:
        """Every digest a run may have recorded for this code: ``code``'s, and the whole files' (what evoact recorded
        before comments were set aside)."""
        return frozenset({self.code(), self._digest(bytes)})

    def _digest(self, text: Callable[[bytes], bytes]) -> str:
        function = _defining(self.function)
        source = inspect.getsourcefile(function)
        own = Path(source) if source and Path(source).is_file() else None
        first = hashlib.sha256(text(own.read_bytes())).hexdigest()[:16] if own else source_digest(function)
        digest = hashlib.sha256(first.encode())
        root = _import_root(Path(source).resolve(), function.__module__) if source else None
        for path in _helpers(function):  # named from the import root: the same code elsewhere is the same task
            name = path.relative_to(root) if root is not None and path.is_relative_to(root) else path.name
            digest.update(str(name).encode() + b"\0" + text(path.read_bytes()))
        return digest.hexdigest()[:16]

    def run(
        self,
        make_activation: ActivationFactory,
        config: TrainConfig,
        probe_step: int | None = None,
        hurdle: Hurdle | None = None,
    ) -> TrainResult:
        """Call the function; no quality hurdle (it trains on its own terms), so probe and hurdle are ignored."""
        start = time.perf_counter()
        epochs = config.epochs if config.epochs is not None else max(1, round(EPOCHS * config.epoch_scale))
        calls = 0

        def counted(*args: Any, **kwargs: Any) -> Any:  # inplace=..., as torch's activations take it
            nonlocal calls
            calls += 1
            return make_activation(*args, **kwargs)

        try:
            metrics = self.function(counted, seed=config.seed, epochs=epochs)
        except SystemExit as exc:  # it would end the worker, and the error would say only that a worker died
            if hasattr(exc, "ray_terminate_msg"):  # Ray's own: the worker is told to stop (SIGTERM), not the task
                raise
            raise TaskError(
                f"user task {self.name} called sys.exit({exc.code!r}){self._where(exc)}: a task returns its measures"
                " (argparse's parse_args() exits so, on arguments it does not know)"
            ) from None
        if calls == 0:
            raise TaskError(
                f"user task {self.name} never called make_activation(): its model has no candidate in it, so every"
                " function would score the same"
            )
        measure = "acc" if self.metric == "accuracy" else "loss"
        try:
            val = _number(metrics[f"val_{measure}"])
            test = None if metrics.get(f"test_{measure}") is None else _number(metrics[f"test_{measure}"])
            loss = None if metrics.get("train_loss") is None else _number(metrics["train_loss"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if measure == "acc" and isinstance(metrics, Mapping) and "val_loss" in metrics and "val_acc" not in metrics:
                name = getattr(self.function, "__name__", "the function")
                raise TaskError(
                    f"user task {self.name} returned 'val_loss' and no 'val_acc': a task measured by its loss says so,"
                    f' {name}.metric = "loss" on a line after its def (else its val_acc is what the search selects on)'
                ) from None
            raise TaskError(
                f"user task {self.name} must return a mapping with a numeric 'val_{measure}'"
                + (" (or set its metric = 'loss' and return 'val_loss')" if measure == "acc" else "")
                + f"; it returned {_returned(metrics)} ({type(exc).__name__}: {exc})"
            ) from None
        named = {f"val_{measure}": val, f"test_{measure}": test, "train_loss": loss}
        bad = [f"{k} {v}" for k, v in named.items() if v is not None and not math.isfinite(v)]
        if measure == "acc" and math.isnan(val) and test is not None and math.isfinite(test):
            raise TaskError(  # one network, one NaN accuracy: not a diverged training, and every function would fail
                f"user task {self.name} returned val_acc nan beside test_acc {test:.4g}: an accuracy is a fraction of"
                " examples classified right, never NaN, whatever the network does (an empty validation split, or a"
                " division by its size, gives it)"
            )
        if bad:
            raise TrainingError(f"user task {self.name} returned a non-finite measure ({', '.join(bad)})")
        measures = [(name, value) for name, value in named.items() if name != "train_loss" and value is not None]
        if measure == "acc" and (out := [(k, v) for k, v in measures if not 0 <= v <= 1]):
            raise TaskError(  # a fitness is the ratio to the best baseline's: an MSE here would be maximised
                f"user task {self.name} returned {out[0][0]} {out[0][1]:.4g}: an accuracy is a fraction from 0 to 1,"
                " higher is better (86% is 0.86); a score that leaves that range (an MSE, an R² that can fall below"
                " 0) is a loss: set the function's metric = 'loss' and return 'val_loss' and 'test_loss', never"
                " negative and lower is better (for R², 1 - R²)"
            )
        if measure == "loss" and (out := [(k, v) for k, v in measures if v < 0]):
            raise TaskError(  # a contract break, whatever the function: every one would fail alike
                f"user task {self.name} returned {out[0][0]} {out[0][1]:.4g}: a loss is never negative (it is compared"
                " as the best baseline's loss over the candidate's)"
            )
        seconds = time.perf_counter() - start
        if measure == "acc":  # with its losses where it returns them: --score loss compares those
            losses = [self._loss(metrics, f"{split}_loss") for split in ("val", "test")]
            return TrainResult(val, test, loss, seconds, val_loss=losses[0], test_loss=losses[1])
        return TrainResult(None, None, loss, seconds, val_loss=val, test_loss=test)

    def _loss(self, metrics: Mapping[str, Any], key: str) -> float | None:
        """An accuracy task's ``val_loss`` or ``test_loss``, where it returns one that ``--score loss`` could compare (a
        finite number, never negative); None otherwise: under the default score it is not read at all."""
        try:
            value = None if metrics.get(key) is None else _number(metrics[key])
        except (TypeError, ValueError, AttributeError):
            return None
        return value if value is not None and math.isfinite(value) and value >= 0 else None

    def _where(self, exc: BaseException) -> str:
        """`` at FILE:LINE in FUNCTION``: the innermost frame of the traceback in the task's own files, if any."""
        function = _defining(self.function)
        try:
            source = inspect.getsourcefile(function)
        except TypeError:  # a built-in: no file of its own
            source = None
        own = {p.resolve() for p in [*([Path(source)] if source else []), *_helpers(function)]}
        for frame, line in reversed(list(traceback.walk_tb(exc.__traceback__))):
            if Path(frame.f_code.co_filename).resolve() in own:
                return f" at {frame.f_code.co_filename}:{line} in {frame.f_code.co_name}"
        return ""


def _returned(metrics: Any) -> str:
    """What a task function returned, in a few words: a mapping's keys, else its type."""
    if isinstance(metrics, Mapping):
        return "keys " + ", ".join(repr(k) for k in list(metrics)[:10]) if metrics else "an empty mapping"
    return f"a {type(metrics).__name__}"


def _number(value: Any) -> float:
    """A measure a task returned, as a float: a number (a NumPy or torch scalar too), never text or a truth value."""
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _meaning(source: bytes) -> bytes:
    """Python source without its comments, blank lines and trailing spaces (the same text in every Python version,
    unlike a syntax tree's dump), or as it is where it does not tokenize."""
    try:
        text = source.decode("utf-8")
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return source
    lines = text.split("\n")
    for token in tokens:  # a comment runs to its line's end: cut there
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    return "\n".join(line.rstrip() for line in lines if line.strip()).encode()


def _helpers(function: Callable[..., Any]) -> list[Path]:
    """The files of the task's own helpers that define ``function`` (``_helper_files``); none for a function without
    a source file."""
    try:
        source = inspect.getsourcefile(function)
    except TypeError:
        return []
    return _helper_files(Path(source), function.__module__) if source else []


def _import_root(task_file: Path, module: str) -> Path:
    """The folder that ``module``'s dotted name starts from (a task file's own folder)."""
    depth = len(module.split(".")) - (0 if task_file.name == "__init__.py" else 1)
    return task_file.parents[min(depth, len(task_file.parents) - 1)]


def _user_module(module: Any) -> bool:
    """Whether a loaded module is a user's code, never the standard library's or an installed package's (a file in
    the task's folder that shadows one must not make this process import torch or json again)."""
    if module is None or module.__name__.split(".")[0] in sys.stdlib_module_names:
        return False
    places = [module.__file__] if getattr(module, "__file__", None) else list(getattr(module, "__path__", []))
    return bool(places) and not any(_installed(Path(place)) for place in places)


def _installed(folder: Path) -> bool:
    """Whether ``folder`` is in an installed package's place (keyed by its version, never imported afresh)."""
    return bool({"site-packages", "dist-packages"} & set(folder.parts))


def _dotted(path: Path, root: Path) -> str:
    """The module name a file below ``root`` is imported as."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _helper_files(task_file: Path, module: str) -> list[Path]:
    """The files of a task's own helpers, whose edits change what it trains: its package's ``__init__.py`` files and
    the modules below its import root (its folder, for a task file) that it imports, followed import by import (an
    import inside a function too); at most ``MAX_HELPERS`` files. Read from the files, not from what this process has
    imported, so that every process keys a task alike. Installed packages and evoact are left out (their versions are
    keyed apart), and so are data files and modules imported by a computed name."""
    own = task_file.resolve()
    root = _import_root(own, module)
    if _installed(root):
        return []
    found = {own} | {
        init for folder in own.parents if root in folder.parents and (init := folder / "__init__.py").is_file()
    }
    pending = sorted(found)
    while pending and len(found) < MAX_HELPERS:
        for path in _imported_files(pending.pop(), root):
            if path not in found and len(found) < MAX_HELPERS:
                found.add(path)
                pending.append(path)
    found.discard(own)
    return sorted(found)


def _imported_files(path: Path, root: Path) -> list[Path]:
    """The files below ``root`` that the imports written in ``path`` load (packages' ``__init__.py`` included)."""
    try:
        stat = path.stat()
    except OSError:
        return []
    files = []
    for level, parts in _imports(path, stat.st_mtime_ns, stat.st_size):
        base = root if not level else path.parents[min(level, len(path.parents)) - 1]
        for depth in range(1, len(parts) + 1):
            stem = base.joinpath(*parts[:depth])
            for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
                try:
                    if candidate.is_file():
                        files.append(candidate.resolve())
                except (OSError, RuntimeError):  # unreadable, or a symbolic link loop
                    continue
    return [f for f in files if root in f.parents and f.parts[len(root.parts)] != "evoact"]


#: The largest file whose functions a task error lists (read only to name them).
MAX_LISTED_BYTES = 1_000_000


def task_functions(path: Path) -> list[str]:
    """The functions ``path`` defines that take ``make_activation`` (read with ``ast``: the file never runs), those
    that also take ``seed`` and ``epochs`` (as a task is called) first; [] where it is no regular file of at most
    ``MAX_LISTED_BYTES`` or cannot be read (a pipe would block the read)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_LISTED_BYTES:
            return []
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(a.arg == "make_activation" for a in node.args.posonlyargs + node.args.args)
    ]

    def callable_as_task(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        names = {a.arg for a in node.args.args + node.args.kwonlyargs}
        return node.args.kwarg is not None or {"seed", "epochs"} <= names

    return [node.name for node in sorted(found, key=lambda node: not callable_as_task(node))]


@functools.lru_cache(maxsize=4096)
def _imports(path: Path, mtime_ns: int, size: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """What ``path`` imports, as (relative level, dotted parts) with each from-import's names as possible
    submodules; parsed once per version of the file (a search computes its cache keys several times)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return ()
    names: list[tuple[int, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(0, tuple(alias.name.split("."))) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = tuple(node.module.split(".")) if node.module else ()
            names += [(node.level, (*module, alias.name)) for alias in node.names]
    return tuple(names)
