import pytest
import torch
from torch import nn

from evoact.tasks import TASKS, get_task
from evoact.tasks.mnist1d import load_mnist1d


def test_mnist1d_splits_are_disjoint_sized_and_stable():
    data = load_mnist1d()
    assert data.x_train.shape == (3200, 40) and data.x_val.shape == (800, 40) and data.x_test.shape == (1000, 40)
    assert data.x_train.dtype == torch.float32 and set(data.y_train.unique().tolist()) == set(range(10))
    load_mnist1d.cache_clear()
    again = load_mnist1d()  # read back from the on-disk cache
    assert torch.equal(again.x_val, data.x_val) and torch.equal(again.y_test, data.y_test)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_models_use_the_given_activation_everywhere(name):
    task = get_task(name)
    made = []

    def factory() -> nn.Module:
        made.append(nn.Tanh())
        return made[-1]

    model = task.build_model(factory)
    assert model(task.load().x_val[:5]).shape == (5, 10)
    assert len(made) >= 2 and all(any(m is a for a in model.modules()) for m in made)


def test_unknown_task_lists_known_ones():
    with pytest.raises(ValueError, match="unknown task 'cifar'; known tasks: mnist1d-cnn, mnist1d-mlp"):
        get_task("cifar")
