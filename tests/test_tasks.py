import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from evoact.tasks import TASKS, canonical_task_name, get_task
from evoact.tasks.cifar10 import FOLDER, TEST_FILE, TRAIN_FILES
from evoact.tasks.digits import load_digits
from evoact.tasks.feynman import formulas, load_feynman, measured
from evoact.tasks.mnist1d import load_mnist1d
from evoact.training import TrainConfig, measure

EXAMPLE = "docs/examples/spirals_task.py:spirals"


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A tiny CIFAR-10 in torchvision's layout (pickled dicts of uint8 rows), 40 images per training batch."""
    root = tmp_path_factory.mktemp("cifar")
    folder = root / FOLDER
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f, 40) for f in TRAIN_FILES] + [(TEST_FILE, 30)]:
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 3072)).astype(np.uint8) + (labels[:, None] * 19).astype(np.uint8)  # learnable
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": images, b"labels": labels.tolist(), b"filenames": [b"x.png"] * n}, f, protocol=2)
    return str(root)


def test_mnist1d_splits_are_disjoint_sized_and_stable():
    data = load_mnist1d()
    assert data.x_train.shape == (3200, 40) and data.x_val.shape == (800, 40) and data.x_test.shape == (1000, 40)
    assert data.x_train.dtype == torch.float32 and set(data.y_train.unique().tolist()) == set(range(10))
    load_mnist1d.cache_clear()
    again = load_mnist1d()  # read back from the on-disk cache
    assert torch.equal(again.x_val, data.x_val) and torch.equal(again.y_test, data.y_test)


def test_digits_split_is_fixed_disjoint_and_scaled():
    data = load_digits()
    assert (
        data.x_train.shape == (1137, 1, 8, 8)
        and data.x_val.shape == (300, 1, 8, 8)
        and data.x_test.shape == (360, 1, 8, 8)
    )
    assert 0.0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1.0
    rows = lambda x: {tuple(r.flatten().tolist()) for r in x}  # noqa: E731
    assert not rows(data.x_test) & rows(data.x_val) - rows(data.x_train)  # no image is in two splits (bar exact copies)
    load_digits.cache_clear()
    assert torch.equal(load_digits().y_test, data.y_test)


def test_feynman_targets_are_the_formulas_standardised_on_training_rows():
    data = load_feynman()
    assert data.x_train.shape == (2000, 30) and data.y_train.shape == (2000, 6) and data.y_test.shape == (500, 6)
    assert torch.allclose(data.y_train.mean(0), torch.zeros(6), atol=1e-5)
    assert torch.allclose(data.y_train.std(0), torch.ones(6), atol=1e-3)
    load_feynman.cache_clear()
    assert torch.equal(load_feynman().y_test, data.y_test)  # generated from a fixed seed
    x, y = formulas(np.random.default_rng(1), 100)
    a, b, t1, t2 = x[:, 5:9].T  # the law of cosines, checked against the distance between two points
    assert np.allclose(y[:, 2], np.hypot(a - b * np.cos(t1 - t2), b * np.sin(t1 - t2)))
    assert np.allclose(y[:, 4], (x[:, 12] * x[:, 14] + x[:, 13] * x[:, 15]) / (x[:, 12] + x[:, 13]))  # centre of mass
    noisy_x, noisy_y = measured(np.random.default_rng(1), 100)  # the same draws, then dummies and noise
    assert np.array_equal(noisy_x[:, :20], x) and noisy_x.shape == (100, 30)
    noise = (noisy_y - y) / y.std(0)
    assert 0.05 < noise.std() < 0.15 and not np.allclose(noisy_y, y)


def test_cifar10_reads_torchvision_layout_and_holds_out_validation(cifar_dir):
    data = get_task("cifar10-resnet20", cifar_dir).load()
    assert (
        data.x_train.shape == (180, 3, 32, 32)
        and data.x_val.shape == (20, 3, 32, 32)
        and data.x_test.shape == (30, 3, 32, 32)
    )
    assert abs(float(data.x_train.mean())) < 1e-4  # normalised with the training split's statistics


def test_cifar10_refuses_missing_data_and_pickled_code(tmp_path, cifar_dir):
    with pytest.raises(ValueError, match="pass --data-dir DIR"):
        get_task("cifar10-resnet20").prepare()
    with pytest.raises(ValueError, match="missing data_batch_1"):
        get_task("cifar10-resnet20", str(tmp_path)).prepare()
    evil = tmp_path / "evil" / FOLDER
    evil.mkdir(parents=True)
    for name in (*TRAIN_FILES, TEST_FILE):
        (evil / name).write_bytes(pickle.dumps({b"data": __import__("os").system}))
    with pytest.raises(ValueError, match="posix.system is not allowed|os.system is not allowed"):
        get_task("cifar10-resnet20", str(tmp_path / "evil")).load()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_models_use_the_given_activation_everywhere(name, cifar_dir):
    task = get_task(name, cifar_dir)
    made = []

    def factory() -> nn.Module:
        made.append(nn.Tanh())
        return made[-1]

    model = task.build_model(factory)
    output, data = model(task.load().x_val[:5]), task.load()
    if task.loss == "cross_entropy":
        classes = int(max(data.y_train.max(), data.y_val.max())) + 1
        assert output.shape[0] == 5 and output.shape[-1] == classes and output.shape[1:-1] == data.y_val.shape[1:]
    else:  # one output per regression target
        assert output.reshape(data.y_val[:5].shape).shape == data.y_val[:5].shape
    assert len(made) >= (1 if name == "cancer-wide-mlp" else 2)  # one wide hidden layer there
    assert all(any(m is a for a in model.modules()) for m in made)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_one_epoch_of_training_scores_both_splits(name, cifar_dir):
    task = get_task(name, cifar_dir)
    data = task.load()
    torch.manual_seed(0)
    # the untrained loss on (at most) 20,000 training examples: the text task has 240,000
    _, untrained = measure(task.build_model(nn.ReLU), data.x_train[:20_000], data.y_train[:20_000], task.loss)
    # one epoch, or part of one where an epoch is long (240,000 windows of text)
    result = task.run(nn.ReLU, TrainConfig(epochs=0.05 if name == "source-char-mlp" else 1, batch_size=50))
    assert result.seconds > 0 and 0 < result.val_loss < float("inf") and 0 < result.test_loss < float("inf")
    if task.loss == "cross_entropy":  # classification, also where selection reads the loss (language modelling)
        assert 0.0 <= result.val_acc <= 1.0 and 0.0 <= result.test_acc <= 1.0
    else:
        assert result.val_acc is None and result.test_acc is None
    if name != "cifar10-resnet20":  # the tiny synthetic CIFAR is too small to say anything about learning
        assert (
            result.train_loss < untrained
        )  # one epoch learned something (the epoch's mean loss, on the training split)
    if name in ("mnist1d-cnn", "mnist1d-mlp", "digits-cnn", "mnist1d-groupnorm-cnn"):
        assert result.val_acc > 0.2  # chance is 0.1


def test_user_task_from_a_file_runs_the_documented_example():
    name = canonical_task_name(EXAMPLE)
    assert name.startswith("/") and name.endswith("spirals_task.py:spirals")
    result = get_task(name).run(nn.Tanh, TrainConfig(epochs=5, seed=3))
    assert 0.5 < result.val_acc <= 1.0 and result.test_acc is not None


def test_user_task_file_may_use_dataclasses(tmp_path):
    (tmp_path / "typed.py").write_text(
        "from __future__ import annotations\nfrom dataclasses import dataclass\n\n"
        "@dataclass\nclass Setting:\n    acc: float\n\n"
        "def task(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': Setting(0.25).acc}\n"
    )
    assert get_task(f"{tmp_path / 'typed.py'}:task").run(nn.ReLU, TrainConfig()).val_acc == 0.25


def test_a_user_module_in_the_current_directory_is_found_as_the_readme_says(tmp_path, monkeypatch):
    """The ``evoact`` console script's ``sys.path`` starts at its own folder, not the current directory."""
    import sys

    (tmp_path / "here_task.py").write_text(
        "def f(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 0.5}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    assert get_task("here_task:f").run(nn.ReLU, TrainConfig()).val_acc == 0.5


def test_a_user_regression_is_scored_by_its_loss_beside_an_accuracy_task(tmp_path):
    """``metric = "loss"``: the fitness mixes the best baseline's loss over the candidate's with accuracy ratios (a
    -MSE returned as val_acc was averaged raw)."""
    import evoact
    from evoact.records import Status

    here = Path(__file__).resolve().parent.parent / "docs" / "examples"
    wave, spirals = f"{here / 'regression_task.py'}:wave", f"{here / 'spirals_task.py'}:spirals"
    run = evoact.search("tiny", tasks=[wave, spirals], runs_dir=tmp_path, name="reg", quiet=True, workers=2)
    assert run.metrics == {wave: "loss", spirals: "accuracy"}
    rows = [r for r in run.store.candidates() if r.status == Status.OK and r.outcome.fitness is not None]
    baselines = [r for r in rows if r.label]
    best_loss = min(r.outcome.scores[wave].val_loss for r in baselines)
    best_acc = max(r.outcome.scores[spirals].val_acc for r in baselines)
    assert len(rows) > len(baselines) >= 3
    for row in rows:
        scores = row.outcome.scores
        expected = (best_loss / scores[wave].val_loss + scores[spirals].val_acc / best_acc) / 2
        assert row.outcome.scores[wave].val_acc is None and row.outcome.fitness == pytest.approx(expected)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    return {'val_acc': -24.7}\n", "returned val_acc -24.7: an accuracy is a fraction from 0 to 1"),
        ("    return {'val_acc': 3212.5, 'test_acc': 3100}\n", "returned val_acc 3212: an accuracy is a fraction"),
        (
            "    return {'val_acc': 86.0, 'test_acc': 85}\n",
            "returned val_acc 86: an accuracy is a fraction from 0 to 1",
        ),
        ("    return {'val_acc': 0.002, 'test_acc': -0.02}\n", "returned test_acc -0.02: an accuracy is a fraction"),
        (
            "    return {'val_loss': 0.5, 'test_loss': -1e-3}\nf.metric = 'loss'\n",
            "returned test_loss -0.001: a loss is never",
        ),
        ("    return {'val_loss': 0.5}\nf.metric = 'loss'\n", None),
        ("    return {'val_loss': 0.0, 'test_loss': 0.0}\nf.metric = 'loss'\n", None),  # a perfect fit
        ("    return {'val_loss': -0.5}\nf.metric = 'loss'\n", "returned val_loss -0.5: a loss is never negative"),
        ("    return {'val_acc': 0.5}\nf.metric = 'loss'\n", "must return a mapping with a numeric 'val_loss'"),
        (
            "    return {'val_loss': 0.5}\n",
            "returned 'val_loss' and no 'val_acc': a task measured by its loss says so,"
            ' f.metric = "loss" on a line after its def',
        ),
        ("    return {'val_loss': 0.5, 'val_acc': None}\n", "numeric 'val_acc' (or set its metric = 'loss' and return"),
        ("    return {'accuracy': 0.9, 'test_accuracy': 0.8}\n", "it returned keys 'accuracy', 'test_accuracy'"),
        ("    return 0.9\n", "it returned a float"),
        ("    return {'val_acc': 0.5}\n", "never called make_activation(): its model has no candidate in it"),
        ("    return {'val_acc': '0.9'}\n", "numeric 'val_acc'"),
        ("    return {'val_acc': True}\n", "numeric 'val_acc'"),
        ("    return {'val_loss': 0.5}\nf.metric = 'loss'\ng = functools.partial(f)\n", None),  # a partial of it
    ],
)
def test_a_user_task_returns_what_its_metric_says(tmp_path, body, message):
    from evoact.training import TaskError

    called = "    make_activation()\n" if "never called" not in (message or "") else ""
    (tmp_path / "t.py").write_text("import functools\ndef f(make_activation, seed, epochs):\n" + called + body)
    task = get_task(f"{tmp_path / 't.py'}:{'g' if 'partial' in body else 'f'}")
    if message is None:
        assert task.metric == "loss" and task.run(nn.ReLU, TrainConfig()).val_loss == (0.0 if "0.0" in body else 0.5)
        return
    with pytest.raises(TaskError, match=re.escape(message)):  # whatever the function: stops at the first baseline
        task.run(nn.ReLU, TrainConfig())


@pytest.mark.parametrize("where", ["at the top", "inside the function"])
def test_a_helper_edited_since_a_task_was_loaded_is_read_again(tmp_path, monkeypatch, where):
    """A notebook's session, or a Ray worker that outlives a search, loads the task again after its helper was edited:
    it must train with the new helper, not the module it imported before (the cache key has changed with it)."""
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "rate_source.py").write_text("RATE = 0.25\n")
    top, inside = (
        ("from rate_source import RATE\n", "") if where == "at the top" else ("", "    from rate_source import RATE\n")
    )
    (tmp_path / "t.py").write_text(
        f"{top}def f(make_activation, seed, epochs):\n{inside}    make_activation()\n    return {{'val_acc': RATE}}\n"
    )
    try:
        assert get_task(f"{tmp_path / 't.py'}:f").run(nn.ReLU, TrainConfig()).val_acc == 0.25
        (tmp_path / "rate_source.py").write_text("RATE = 0.5\n")
        assert get_task(f"{tmp_path / 't.py'}:f").run(nn.ReLU, TrainConfig()).val_acc == 0.5
    finally:
        sys.modules.pop("rate_source", None)


_RETURNS = "    make_activation()\n    return {'val_acc': RATE}\n"
_TASK = "def f(make_activation, seed, epochs):\n" + _RETURNS
#: Folders of a user's task whose ``RATE`` comes from a helper: (files, the file to edit, the task's name)
_LAYOUTS = {
    "a chain of helpers": (
        {
            "t.py": "from a import RATE\ndef f(make_activation, seed, epochs):\n" + _RETURNS,
            "a.py": "from b import RATE\n",
        },
        "b.py",
        "{root}/t.py:f",
    ),
    "a package's submodule": (
        {
            "t.py": "from pkg import sub\ndef f(make_activation, seed, epochs):\n    RATE = sub.RATE\n" + _RETURNS,
            "pkg/__init__.py": "",
        },
        "pkg/sub.py",
        "{root}/t.py:f",
    ),
    "a module of a package importing its package by name": (
        {
            "proj/__init__.py": "",
            "proj/tasks.py": "from proj.models.net import RATE\n" + _TASK,
            "proj/models/__init__.py": "",
        },
        "proj/models/net.py",
        "proj.tasks:f",
    ),
    "a package's __init__": (
        {"proj/tasks.py": "from proj import RATE\n" + _TASK},
        "proj/__init__.py",
        "proj.tasks:f",
    ),
}


@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_an_edited_helper_is_read_again_and_keys_the_task_anew(tmp_path, monkeypatch, layout):
    """However the task reaches its helper, editing only the helper trains with the new code (a notebook or a Ray
    worker loads the task again) under a new cache key; editing a file it does not import changes neither."""
    import sys

    files, helper, name = _LAYOUTS[layout]
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    for path, text in {**files, helper: "RATE = 0.25\n", "unrelated.py": "X = 1\n"}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    name = name.format(root=tmp_path)
    before = {m for m in sys.modules}
    try:
        task = get_task(name)
        assert task.run(nn.ReLU, TrainConfig()).val_acc == 0.25
        key = task.revision()
        (tmp_path / "unrelated.py").write_text("X = 2\n")
        assert get_task(name).revision() == key
        (tmp_path / helper).write_text("RATE = 0.5\n")
        again = get_task(name)
        assert again.run(nn.ReLU, TrainConfig()).val_acc == 0.5 and again.revision() != key
    finally:
        for module in set(sys.modules) - before:
            del sys.modules[module]


_DECORATED = (
    "from deco import timed\nfrom helper import RATE\n\n"
    "@timed\ndef task(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': RATE}\n"
)


def test_a_user_tasks_code_is_its_own_files_through_a_decorator_and_wherever_they_lie(tmp_path, monkeypatch):
    """What a run records of its task (``code``, and the cache key built on it): a decorated task's own file and
    helpers, not its decorator's alone; the same files in another folder (another checkout) are the same code."""
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    deco = "import functools\n\ndef timed(f):\n    @functools.wraps(f)\n    def run(*a, **k):\n"
    deco += "        return f(*a, **k)\n    return run\n"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for name, text in (("deco.py", deco), ("helper.py", "RATE = 0.25\n"), ("t.py", _DECORATED)):
            (tmp_path / folder / name).write_text(text)
    before = set(sys.modules)
    try:
        codes = [get_task(f"{tmp_path / f / 't.py'}:task").code() for f in "ab"]
        assert codes[0] == codes[1]
        (tmp_path / "b" / "t.py").write_text(_DECORATED.replace("make_activation()", "make_activation(inplace=True)"))
        edited = get_task(f"{tmp_path / 'b' / 't.py'}:task")
        assert edited.code() != codes[0]  # an edit under the decorator is an edit of the task
        (tmp_path / "a" / "helper.py").write_text("RATE = 0.5\n")
        assert get_task(f"{tmp_path / 'a' / 't.py'}:task").code() not in (codes[0], edited.code())
    finally:
        for module in set(sys.modules) - before:
            del sys.modules[module]


def test_a_callable_object_is_a_task_whose_code_is_its_class_s_file(tmp_path):
    """The signature check took an object with ``__call__``, and reading its code then failed with inspect's raw
    TypeError (after the run's header was printed)."""
    text = "class Task:\n    def __call__(self, make_activation, seed, epochs):\n        make_activation()\n"
    text += "        return {'val_acc': 0.5, 'test_acc': 0.25}\n\ntask = Task()\n"
    (tmp_path / "obj.py").write_text(text)
    task = get_task(f"{tmp_path / 'obj.py'}:task")
    code = task.code()
    assert (task.run(nn.ReLU, TrainConfig()).val_acc, task.run(nn.ReLU, TrainConfig()).test_acc) == (0.5, 0.25)
    (tmp_path / "obj.py").write_text(text.replace("0.25", "0.5"))
    assert get_task(f"{tmp_path / 'obj.py'}:task").code() != code  # an edit of its class is an edit of the task


def test_rays_own_stop_passes_through_a_user_task_and_the_tasks_sys_exit_does_not(tmp_path):
    """Ray stops a worker (SIGTERM) by raising SystemExit wherever it runs, a task's code too: that must end the
    worker (its job is retried elsewhere), not be stored as the task's failure."""
    from evoact.training import TrainingError

    (tmp_path / "t.py").write_text(
        "import sys\n\ndef stopped(make_activation, seed, epochs):\n    make_activation()\n"
        "    exc = SystemExit(1)\n    exc.ray_terminate_msg = 'The process receives a SIGTERM.'\n    raise exc\n\n"
        "def leaves(make_activation, seed, epochs):\n    make_activation()\n    sys.exit()\n"
    )
    with pytest.raises(SystemExit):
        get_task(f"{tmp_path / 't.py'}:stopped").run(nn.ReLU, TrainConfig())
    with pytest.raises(TrainingError, match=r"called sys.exit\(None\) at .*t\.py:11 in leaves"):
        get_task(f"{tmp_path / 't.py'}:leaves").run(nn.ReLU, TrainConfig())


def test_two_task_folders_with_helpers_of_one_name_each_train_with_their_own(tmp_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    for folder, rate in (("one", 0.25), ("two", 0.5)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "rates.py").write_text(f"RATE = {rate}\n")
        (tmp_path / folder / "t.py").write_text(
            "from rates import RATE\ndef f(make_activation, seed, epochs):\n" + _RETURNS
        )
    try:
        one, two = (get_task(f"{tmp_path / folder / 't.py'}:f") for folder in ("one", "two"))
        assert (one.run(nn.ReLU, TrainConfig()).val_acc, two.run(nn.ReLU, TrainConfig()).val_acc) == (0.25, 0.5)
    finally:
        sys.modules.pop("rates", None)


def test_a_file_beside_a_task_named_as_an_installed_module_does_not_unload_it(tmp_path, monkeypatch):
    """``json.py`` or ``torch.py`` beside a task looks like a helper of ``import json``: the process must keep the
    module it has (importing torch again in a worker would break every tensor it made)."""
    import json
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    for shadow in ("json.py", "torch.py"):
        (tmp_path / shadow).write_text("RATE = 0.0\n")
    (tmp_path / "t.py").write_text("import json\nimport torch\nRATE = 0.25\n" + _TASK)
    assert get_task(f"{tmp_path / 't.py'}:f").run(nn.ReLU, TrainConfig()).val_acc == 0.25
    assert sys.modules["json"] is json and sys.modules["torch"] is torch


def test_a_user_task_with_an_unknown_metric_is_refused_when_loaded(tmp_path):
    (tmp_path / "t.py").write_text(
        "def f(make_activation, seed, epochs):\n    make_activation()\n    return {}\nf.metric = 'mse'\n"
    )
    with pytest.raises(ValueError, match="f.metric is 'mse'; use 'accuracy'"):
        get_task(f"{tmp_path / 't.py'}:f")


def test_user_task_from_a_module_and_bad_specs(tmp_path, monkeypatch):
    (tmp_path / "my_tasks.py").write_text(
        "def good(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.5 + seed / 100}\n"
        "def bad(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'accuracy': 1}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_task("my_tasks:good").run(nn.ReLU, TrainConfig(seed=7)).val_acc == pytest.approx(0.57)
    (tmp_path / "edited.py").write_text(
        "def f(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 0.25}\n"
    )
    assert get_task("edited:f").run(nn.ReLU, TrainConfig()).val_acc == 0.25
    (tmp_path / "edited.py").write_text(
        "def f(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 0.875}\n"
    )
    assert get_task("edited:f").run(nn.ReLU, TrainConfig()).val_acc == 0.875  # the module's new code, imported again
    from evoact.training import TrainingError

    with pytest.raises(TrainingError, match="numeric 'val_acc'"):
        get_task("my_tasks:bad").run(nn.ReLU, TrainConfig())
    with pytest.raises(ValueError, match="has no function 'nothing'"):
        get_task("my_tasks:nothing")
    with pytest.raises(ValueError, match="has no function 'godo'; did you mean 'good'\\?"):
        get_task("my_tasks:godo")
    with pytest.raises(ValueError, match="cannot import no_such_module"):
        get_task("no_such_module:f")
    with pytest.raises(ValueError, match=rf"imported from the folder the command runs in \({re.escape(os.getcwd())}\)"):
        get_task("no_such_module:f")  # run from another folder than the search's: where it is looked for
    with pytest.raises(ValueError, match=r"a path names a task by its file, with .py: nodir/nomod.py:FUNCTION"):
        get_task("nodir/nomod:f")
    (tmp_path / "needs.py").write_text("import not_installed_here\n")
    with pytest.raises(ValueError, match="cannot import needs \\(No module named 'not_installed_here'\\)$"):
        get_task("needs:f")  # the module is found; what it imports is not
    with pytest.raises(ValueError, match="no such file"):
        get_task(str(tmp_path / "absent.py") + ":f")
    (tmp_path / "typo.py").write_text("def f(make_activation, seed, epochs)\n    return {}\n")
    with pytest.raises(ValueError, match=r"typo.py:f'.*typo.py, line 1: expected ':'"):
        get_task(str(tmp_path / "typo.py") + ":f")
    (tmp_path / "breaks.py").write_text("import math\nRATE = math.sqrt(-1)\n")
    with pytest.raises(ValueError, match="importing .*breaks.py raised ValueError at .*breaks.py, line 2: math domain"):
        get_task(str(tmp_path / "breaks.py") + ":f")
    (tmp_path / "leaves.py").write_text("import sys\nsys.exit('no data here')\n")
    with pytest.raises(ValueError, match="importing .*leaves.py raised SystemExit at .*line 2: no data here"):
        get_task(str(tmp_path / "leaves.py") + ":f")
    (tmp_path / "wrapped.py").write_text(  # a decorator that supplies an argument itself: callable as asked
        "import functools\n"
        "def on_cpu(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def run(make_activation, **kw):\n"
        "        return fn(make_activation, device='cpu', **kw)\n"
        "    return run\n"
        "@on_cpu\n"
        "def f(make_activation, seed, epochs, device):\n"
        "    make_activation()\n"
        "    return {'val_acc': 0.5}\n"
    )
    assert get_task(str(tmp_path / "wrapped.py") + ":f").run(nn.ReLU, TrainConfig()).val_acc == 0.5
    (tmp_path / "shape.py").write_text("def f(make_activation):\n    return {'val_acc': 1.0}\n")
    with pytest.raises(ValueError, match=r"f\(make_activation\) cannot be called as f\(make_activation, seed=..."):
        get_task(str(tmp_path / "shape.py") + ":f")


def test_unknown_task_lists_known_ones_and_the_test_group_apart():
    with pytest.raises(
        ValueError,
        match=r"unknown task 'cifar'; known tasks: cifar10-fast, cifar10-resnet20, digits-cnn, digits-deep-mlp, "
        r"digits-resmlp, feynman-mlp, friedman-mlp, glu-docs, glu-source, glu-text, glu-text-wide, glu-vit, "
        r"mnist1d-cnn, mnist1d-deep-mlp, mnist1d-mlp, mnist1d-resnet, periodic-mlp, tabular-wide-mlp, "
        r"text-transformer, or MODULE:FUNCTION for your own; the test group's \(cancer-wide-mlp, clusters-resmlp, "
        r"diabetes-mlp, glu-mnist1d, glu-sympy-docs, hastie-narrow-deep-mlp, mnist1d-groupnorm-cnn, "
        r"photo-coordinate-mlp, source-char-mlp\) only report results \(evoact confirm RUN --group test\)$",
    ):
        get_task("cifar")


@pytest.fixture(scope="module")
def synthetic_cifar(tmp_path_factory):
    """The synthetic image problem in CIFAR-10's layout: 2,500 training and 500 test images."""
    from evoact.tasks.cifar10_fast import write_synthetic_cifar10

    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_cifar10(root, train=2500, test=500, seed=0)
    return str(root)


def test_the_synthetic_cifar_defeats_a_linear_model_and_the_fast_task_learns_it(synthetic_cifar):
    from sklearn.linear_model import LogisticRegression

    from evoact.tasks.cifar10_fast import Cifar10Fast

    task = Cifar10Fast(synthetic_cifar, widths=(16, 32, 32))  # CPU-sized; the network and training are the task's
    data = task.load()
    assert data.x_train.shape == (2250, 3, 32, 32) and data.x_test.shape == (500, 3, 32, 32)
    flat = lambda x: x.reshape(len(x), -1).numpy()  # noqa: E731
    linear = LogisticRegression(max_iter=300).fit(flat(data.x_train), data.y_train.numpy())
    assert linear.score(flat(data.x_test), data.y_test.numpy()) < 0.25  # chance is 0.1
    result = task.run(nn.GELU, TrainConfig(epochs=5, batch_size=256, seed=0))
    assert result.test_acc > 0.4 and result.val_acc > 0.4
    assert len(result.curve) == 5 and result.curve[-1] < result.curve[0]


def test_the_fast_task_whitens_patches_and_augments_on_the_device(synthetic_cifar):
    from evoact.tasks.cifar10_fast import TRANSLATE, FastNet, augment

    x = get_task("cifar10-fast", synthetic_cifar).load().x_train[:400]
    model = FastNet(nn.GELU, (8, 8, 8))
    model.whiten_from(x)
    with torch.no_grad():
        white = (model.whiten(x) - model.whiten.bias[:, None, None])[:, :12].transpose(0, 1).reshape(12, -1)
    assert torch.allclose(torch.cov(white), torch.eye(12), atol=0.02)  # the 12 directions: unit variance, uncorrelated
    assert torch.allclose(model.whiten.weight[12:], -model.whiten.weight[:12])
    padded = torch.nn.functional.pad(x, (TRANSLATE,) * 4, mode="reflect")
    flip = torch.arange(len(x)) % 2 == 0
    out = augment(padded, flip, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for i in range(6):  # each image is one of its 25 translations, mirrored where asked
        crops = [padded[i, :, r : r + 32, c : c + 32] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], crop.flip(-1) if flip[i] else crop) for crop in crops), i


def test_the_fast_task_fails_a_diverging_training_and_names_the_data_it_needs(tmp_path, synthetic_cifar):
    from evoact.tasks.cifar10_fast import Cifar10Fast
    from evoact.training import TrainingError

    class Blowup(nn.Module):
        def forward(self, x):
            return x * float("inf")

    with pytest.raises(TrainingError, match="non-finite"):
        Cifar10Fast(synthetic_cifar, widths=(8, 8, 8)).run(Blowup, TrainConfig(epochs=1, batch_size=500))
    with pytest.raises(ValueError, match="cifar10-fast reads CIFAR-10 from disk: pass --data-dir"):
        get_task("cifar10-fast").check()


def test_a_task_s_revision_without_a_source_file_is_the_same_for_every_copy_of_its_function(tmp_path, monkeypatch):
    """A bytecode-only module (no .py beside it) is digested by its names, not by an object's address: a function
    imported afresh, as another process would, keeps the revision."""
    import importlib
    import py_compile
    import sys

    from evoact.tasks.base import source_digest

    source = tmp_path / "sourceless_task.py"
    source.write_text("def f(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 1.0}\n")
    py_compile.compile(str(source), cfile=str(tmp_path / "sourceless_task.pyc"))
    source.unlink()
    monkeypatch.syspath_prepend(str(tmp_path))
    first = importlib.import_module("sourceless_task").f
    del sys.modules["sourceless_task"]
    again = importlib.import_module("sourceless_task").f
    assert first is not again and source_digest(first) == source_digest(again)


def test_a_user_tasks_code_digest_leaves_out_comments_and_is_the_same_in_every_python(tmp_path):
    """What a run records of a user task's code: comments, blank lines and trailing spaces aside, and made from the
    text, so that a newer Python (whose syntax-tree dumps differ) does not call the same task changed."""
    task = tmp_path / "mine.py"
    task.write_text("import torch\n\n\ndef net(make_activation, seed, epochs):  # mine\n    return {'val_acc': 0.5}\n")
    first = get_task(f"{task}:net").code()
    assert first == "802100b78a9379e9"  # on Python 3.11, 3.12 and 3.13 alike
    task.write_text("# a note\nimport torch\ndef net(make_activation, seed, epochs):\n    return {'val_acc': 0.5}   \n")
    assert get_task(f"{task}:net").code() == first
    task.write_text("import torch\ndef net(make_activation, seed, epochs):\n    return {'val_acc': 0.6}\n")
    assert get_task(f"{task}:net").code() != first


def test_a_task_file_named_without_its_function_is_told_the_functions_it_defines(tmp_path):
    (tmp_path / "two.py").write_text(
        "def helper(x):\n    return x\n\n\ndef waves(make_activation, seed, epochs):\n    return {}\n\n\n"
        "def waves_small(make_activation, seed=0, epochs=1):\n    return {}\n"
    )
    with pytest.raises(ValueError) as told:
        get_task(str(tmp_path / "two.py"))
    assert str(told.value).endswith(
        f"FILE.py:FUNCTION ({tmp_path / 'two.py'}:waves); it defines waves, waves_small with a make_activation argument"
    )


def test_a_nan_validation_accuracy_beside_a_finite_test_one_is_the_tasks_fault_not_the_functions(tmp_path):
    """One network, one NaN accuracy: the task computes it wrongly, so every function would fail (a confirmation
    trained all 12 to the same failure); a task fault stops at the first."""
    from evoact.training import TaskError

    (tmp_path / "t.py").write_text(
        "def f(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': float('nan'), 'test_acc': 0.5}\n"
    )
    with pytest.raises(TaskError, match=re.escape("returned val_acc nan beside test_acc 0.5: an accuracy is a")):
        get_task(f"{tmp_path / 't.py'}:f").run(nn.ReLU, TrainConfig())
