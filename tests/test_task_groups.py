"""The three task groups (search, validation, test), the test group's tasks and the training protocols."""

import math

import pytest
import torch
from torch import nn

from evoact.tasks import (
    GROUPS,
    SUITE_ALIASES,
    SUITES,
    TASKS,
    clinical,
    generated,
    get_task,
    group_tasks,
    mnist1d_groupnorm,
    photo,
    source_code,
    task_group,
)
from evoact.training import OPTIMIZERS, Dataset, Schedule, TrainConfig, measure, train

#: Each test-group task's loader, its split sizes and whether it standardises its inputs on the training split.
LOADERS = {
    "diabetes-mlp": (clinical.load_diabetes, (266, 88, 88), True),
    "cancer-wide-mlp": (clinical.load_breast_cancer, (341, 114, 114), True),
    "clusters-resmlp": (generated.load_clusters, (8000, 2000, 2000), True),
    "hastie-narrow-deep-mlp": (generated.load_hastie, (5000, 1500, 1500), True),
    "mnist1d-groupnorm-cnn": (mnist1d_groupnorm.load_mnist1d_variant, (4000, 800, 1200), False),
    "photo-coordinate-mlp": (photo.load_photo, (3686, 1229, 1229), False),
    "source-char-mlp": (source_code.load_source, (240_000, 20_000, 20_000), False),
}


def test_groups_are_disjoint_and_named():
    groups = {g: set(group_tasks(g)) for g in GROUPS}
    assert groups["search"] == set(SUITES["general"]) and groups["test"] == set(SUITES["test"])
    assert SUITES["heldout"] is SUITES["validation"] and SUITE_ALIASES == {"heldout": "validation"}
    for a in GROUPS:
        assert groups[a] <= set(TASKS)
        for b in GROUPS:
            assert a == b or not groups[a] & groups[b], (a, b)
    assert all(task_group(t) == g for g, tasks in groups.items() for t in tasks)
    assert task_group("feynman-mlp") == "search" and task_group("mnist1d-mlp") is None and task_group("x") is None
    assert set(LOADERS) == groups["test"] and len(groups["test"]) >= 6
    with pytest.raises(ValueError, match="unknown task group 'heldout'"):
        group_tasks("heldout")


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_test_task_data_is_sized_typed_and_fixed(name):
    loader, (n_train, n_val, n_test), standardised = LOADERS[name]
    task, data = get_task(name), loader()
    assert task.name == name and task.description and task.measures and task.metric in ("accuracy", "loss")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (n_train, n_val, n_test)
    assert all(len(x) == len(y) for x, y in [(data.x_train, data.y_train), (data.x_val, data.y_val)])
    inputs = torch.long if name == "source-char-mlp" else torch.float32
    targets = torch.float32 if task.loss == "mse" else torch.long
    assert {data.x_train.dtype, data.x_val.dtype, data.x_test.dtype} == {inputs}
    assert {data.y_train.dtype, data.y_val.dtype, data.y_test.dtype} == {targets}
    if standardised:
        assert torch.allclose(data.x_train.mean(0), torch.zeros(data.x_train.shape[1]), atol=1e-4)
        assert torch.allclose(data.x_train.std(0), torch.ones(data.x_train.shape[1]), atol=1e-2)
    if task.loss == "mse":  # regression targets are standardised on the training split
        assert torch.allclose(data.y_train.mean(0), torch.zeros(data.y_train.shape[1:]), atol=1e-4)
        assert torch.allclose(data.y_train.std(0), torch.ones(data.y_train.shape[1:]), atol=1e-2)
    else:
        classes = int(data.y_train.max()) + 1
        assert set(data.y_val.unique().tolist()) <= set(range(classes))
    loader.cache_clear()
    again = loader()  # generated or read again (from the cache where one is written): the same splits
    assert torch.equal(again.x_train, data.x_train) and torch.equal(again.y_test, data.y_test)


def test_photo_coordinates_cover_the_image_once():
    data = photo.load_photo()
    xy = torch.cat([data.x_train, data.x_val, data.x_test])
    assert len({tuple(p) for p in xy.tolist()}) == photo.HEIGHT * photo.WIDTH
    assert float(xy.min()) == -1.0 and float(xy.max()) == 1.0


def test_source_text_splits_come_from_different_modules(monkeypatch, tmp_path):
    names = [m for split in source_code.MODULES.values() for m in split]
    assert len(names) == len(set(names))  # each module in one split only
    assert source_code.encode("a\t\u00e9\n").tolist() == [
        source_code.ALPHABET.index("a"),
        source_code.UNKNOWN,
        source_code.UNKNOWN,
        0,
    ]
    revision = get_task("source-char-mlp").revision()
    monkeypatch.setattr(source_code, "stdlib_path", lambda: tmp_path)
    assert get_task("source-char-mlp").revision() != revision  # other text, other outcomes: not shared in the cache
    with pytest.raises(ValueError, match="standard library's source is not installed"):
        get_task("source-char-mlp").check()


def _toy(seed: int = 0, n: int = 256) -> Dataset:
    """A small regression problem: a smooth function of 3 of 4 inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.sin(x[:, :1]) + 0.5 * x[:, 1:2] - 0.3 * x[:, 2:3]
    return Dataset(x[:192], y[:192], x[192:224], y[192:224], x[224:], y[224:])


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "adam"},
        {"optimizer": "adamw", "weight_decay": 0.01},
        {"optimizer": "sgd", "momentum": 0.9, "lr": 0.02},
        {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "lr": 0.02, "weight_decay": 1e-4},
        {"optimizer": "adamw", "weight_decay": 0.01, "cosine": True},
    ],
)
def test_each_optimizer_protocol_trains(settings):
    assert set(OPTIMIZERS) == {"adam", "adamw", "sgd"}
    data, settings = _toy(), dict(settings)
    model = _mlp()
    _, before = measure(model, data.x_val, data.y_val, "mse")
    result = train(model, data, Schedule(20, 32, settings.pop("lr", 1e-2), 0, **settings), "mse")
    assert math.isfinite(result.val_loss) and result.val_loss < 0.25 * before


def test_adam_stays_the_default_and_matches_a_plain_adam_loop():
    data = _toy()
    default = train(_mlp(), data, Schedule(3, 32, 1e-2, 5), "mse")
    explicit = train(_mlp(), data, Schedule(3, 32, 1e-2, 5, optimizer="adam"), "mse")
    model = _mlp()  # what training did before optimizers were a table: Adam with the learning rate, seeded batches
    opt, order = torch.optim.Adam(model.parameters(), lr=1e-2), torch.Generator().manual_seed(5)
    for _ in range(3):
        perm = torch.randperm(192, generator=order)
        for i in range(0, 192, 32):
            idx = perm[i : i + 32]
            opt.zero_grad(set_to_none=True)
            nn.functional.mse_loss(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
    _, by_hand = measure(model, data.x_val, data.y_val, "mse")
    assert default.val_loss == explicit.val_loss == by_hand and default.curve == explicit.curve


def test_existing_tasks_keep_plain_adam():
    for name in (*SUITES["general"], *SUITES["validation"], "mnist1d-mlp", "cifar10-resnet20"):
        schedule = TASKS[name]().schedule(TrainConfig())
        assert (schedule.optimizer, schedule.momentum, schedule.weight_decay) == ("adam", 0.0, 0.0), name
        assert not schedule.nesterov and not schedule.cosine, name


def test_schedule_refuses_unknown_or_mismatched_optimizer_settings():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        Schedule(1, 8, 1e-3, 0, optimizer="lion")
    with pytest.raises(ValueError, match="momentum and nesterov are SGD's"):
        Schedule(1, 8, 1e-3, 0, optimizer="adam", momentum=0.9)
    with pytest.raises(ValueError, match="Nesterov's momentum needs"):
        Schedule(1, 8, 1e-3, 0, optimizer="sgd", nesterov=True)
    cosine = Schedule(1, 8, 0.1, 0, cosine=True)
    assert cosine.lr_at(0, 10) == 0.1 and cosine.lr_at(5, 10) == pytest.approx(0.05) and cosine.lr_at(10, 10) < 1e-12
    assert Schedule(1, 8, 0.1, 0).lr_at(5, 10) == 0.1


def test_a_task_passes_its_protocol_to_training():
    schedule = get_task("mnist1d-groupnorm-cnn").schedule(TrainConfig(epoch_scale=0.5, seed=3))
    assert (schedule.optimizer, schedule.momentum, schedule.nesterov, schedule.cosine) == ("sgd", 0.9, True, True)
    assert schedule.epochs == 10 and schedule.seed == 3
    assert get_task("clusters-resmlp").schedule(TrainConfig()).optimizer == "adamw"


@pytest.mark.slow
@pytest.mark.parametrize("name", SUITES["test"])
def test_relu_learns_each_test_task_at_the_quick_budget(name):
    """ReLU alone (nothing is compared on the test group): well above chance, or below the mean predictor's loss."""
    task = get_task(name)
    data = task.load()
    result = task.run(nn.ReLU, TrainConfig(seed=0))
    if task.loss == "mse":
        assert result.test_loss < 0.7 * float(((data.y_test - data.y_train.mean(0)) ** 2).mean())
    else:
        counts = torch.bincount(data.y_train).float()
        prior = counts / counts.sum()
        assert result.test_loss < 0.7 * float(-prior[data.y_test].clamp_min(1e-9).log().mean())
        assert result.test_acc > float((data.y_test == counts.argmax()).float().mean()) + 0.1
