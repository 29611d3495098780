from evoact.evaluation import evaluate, make_job
from evoact.records import Outcome
from evoact.training import TrainConfig

FAST = TrainConfig(epochs=2)


def test_relu_trains_above_chance_and_reports_both_splits():
    result = evaluate(make_job("relu(x)", ("mnist1d-cnn",), FAST, {}))
    assert result["status"] == "ok"
    assert result["fitness"] == result["val_acc"] and result["val_acc"] > 0.25  # chance is 0.1
    assert 0.0 < result["test_acc"] <= 1.0 and result["train_seconds"] > 0
    curve = result["scores"]["mnist1d-cnn"]["curve"]  # the validation loss after each of the two epochs
    assert len(curve) == 2 and curve[-1] == result["scores"]["mnist1d-cnn"]["val_loss"] and curve[1] < curve[0]


def test_same_job_gives_the_same_fitness():
    job = make_job("x*tanh(x)", ("mnist1d-mlp",), FAST, {})
    assert evaluate(job)["val_acc"] == evaluate(job)["val_acc"]


def test_learned_constants_are_reported_per_layer():
    result = evaluate(make_job("x*sigmoid(beta*x)", ("mnist1d-cnn",), FAST, {"beta": 1.0}))
    assert result["status"] == "ok"
    assert len(result["learned"]["beta"]) == 3 and result["learned"]["beta"] != [1.0, 1.0, 1.0]


def test_learned_constants_cover_every_task_not_only_the_first():
    tasks = ("mnist1d-cnn", "mnist1d-mlp")
    result = evaluate(make_job("x*sigmoid(beta*x)", tasks, FAST, {"beta": 1.0}))
    assert result["status"] == "ok"
    per_task = [result["scores"][t]["learned"]["beta"] for t in tasks]
    every = Outcome.from_plain(result).every_layer["beta"]  # what an export and Run.constants start from
    assert len(per_task[1]) >= 2 and every == (*per_task[0], *per_task[1])


def test_failures_are_results_with_reasons():
    exploding = evaluate(make_job("exp(exp(exp(x)))", ("mnist1d-cnn",), FAST, {}))
    assert exploding == {"status": "failed", "error": "non-finite loss in epoch 1", "seconds": exploding["seconds"]}
    broken = evaluate(make_job("x +", ("mnist1d-cnn",), FAST, {}))
    assert broken["status"] == "failed" and "FormulaError" in broken["error"]
    unknown = evaluate(make_job("x", ("no-such-task",), FAST, {}))
    assert unknown["status"] == "failed" and "unknown task" in unknown["error"]


def test_a_learnable_constant_trains_per_layer_on_every_suite_task():
    from evoact.tasks import SUITES

    for task in (*SUITES["general"], *SUITES["heldout"]):
        result = evaluate(make_job("x*sigmoid(beta*x)", (task,), TrainConfig(epoch_scale=0.1), {"beta": 1.0}))
        assert result["status"] == "ok", (task, result)
        betas = result["scores"][task]["learned"]["beta"]
        assert len(betas) >= 2 and all(b != 1.0 for b in betas), (task, betas)  # one per activation layer, each trained


def test_a_failure_in_a_users_task_says_where_in_the_users_file(tmp_path):
    task = tmp_path / "mine.py"
    task.write_text(
        "import torch\n\ndef net(make_activation, seed, epochs):\n    act = make_activation()\n"
        "    return act(torch.zeros(2)) + torch.zeros(3)  # a shape bug\n"
    )
    failed = evaluate(make_job("x*tanh(x)", (f"{task}:net",), FAST, {}))
    assert failed["status"] == "failed" and failed["error"].startswith("RuntimeError: The size of tensor a (2)")
    assert failed["error"].endswith(f" (at {task}:5 in net)")  # the user's line, not torch's innermost frame


def test_score_loss_reads_an_accuracy_task_s_losses_and_stops_where_it_returns_none(tmp_path):
    """``--score loss`` on a task of your own measured by accuracy: its returned losses were dropped, so every
    candidate finished with no fitness and the search ran blind to its end."""
    task = tmp_path / "mine.py"
    task.write_text(
        "def both(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.75, 'test_acc': 0.5, 'val_loss': 0.25, 'test_loss': 0.5}\n\n"
        "def accuracy_only(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.75, 'test_acc': 0.5}\n\n"
        "def odd_losses(make_activation, seed, epochs):\n    make_activation()\n"
        "    return {'val_acc': 0.75, 'test_acc': 0.5, 'val_loss': float('inf'), 'test_loss': -0.1}\n"
    )
    odd = evaluate(make_job("x*tanh(x)", (f"{task}:odd_losses",), FAST, {}))  # the default score reads no loss
    assert odd["status"] == "ok" and odd["fitness"] == 0.75 and odd["scores"][f"{task}:odd_losses"]["val_loss"] is None
    scored = evaluate(make_job("x*tanh(x)", (f"{task}:both",), FAST, {}, score="loss"))
    assert (
        scored["status"] == "ok" and scored["fitness"] == -0.25 and scored["scores"][f"{task}:both"]["test_loss"] == 0.5
    )
    blind = evaluate(make_job("x*tanh(x)", (f"{task}:accuracy_only",), FAST, {}, score="loss"))
    assert blind["status"] == "failed" and blind["task_fault"]  # the task's fault: the search stops at its first
    assert blind["error"] == f"--score loss compares validation losses, and task {task}:accuracy_only returned no" + (
        " val_loss (a task of your own returns it beside its val_acc: a finite number, never negative)"
    )


def test_a_job_fails_as_the_task_s_fault_where_its_file_changed_since_the_search_began(tmp_path):
    """Workers load a task file again when it changes: an edit during a search trained the rest of it on the new code,
    beside the old code's results in one ranking (and under the old code's key in the fitness cache)."""
    from evoact.tasks import get_task

    task = tmp_path / "mine.py"
    task.write_text("def net(make_activation, seed, epochs):\n    make_activation()\n    return {'val_acc': 0.5}\n")
    name = f"{task}:net"
    began = {name: get_task(name).code()}
    assert evaluate(make_job("x*tanh(x)", (name,), FAST, {}, codes=began))["status"] == "ok"
    task.write_text(task.read_text().replace("0.5", "0.75"))
    edited = evaluate(make_job("x*tanh(x)", (name,), FAST, {}, codes=began))
    assert edited["status"] == "failed" and edited["task_fault"]
    assert edited["error"].startswith(f"{name} changed since this search began with it")
    assert evaluate(make_job("x*tanh(x)", (name,), FAST, {}))["val_acc"] == 0.75  # confirm's jobs measure what is there


def test_running_out_of_memory_is_the_machines_failure_not_the_functions(tmp_path):
    """A shared GPU (or a full host) out of memory failed the function for good: stored, and in racing ranked below
    every candidate; it is transient, as a dead worker is, so a resume or a confirm trains it again."""
    task = tmp_path / "mine.py"
    task.write_text(
        "import torch\n\ndef net(make_activation, seed, epochs):\n    make_activation()\n"
        "    raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')\n"
    )
    failed = evaluate(make_job("x*tanh(x)", (f"{task}:net",), FAST, {}))
    assert failed["status"] == "failed" and failed["transient"] and failed["exhausted"] and not failed.get("task_fault")
    assert failed["error"].startswith(
        "out of memory (OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB)"
    )


def test_a_users_task_may_ask_for_inplace_activations_and_its_sys_exit_or_nan_is_a_failure_that_says_which(tmp_path):
    """timm and torchvision build act_layer(inplace=True); sys.exit (or argparse's parse_args) in a task would end
    the worker, and the run would say only that a worker died."""
    task = tmp_path / "mine.py"
    task.write_text(
        "import sys\nimport torch\n\n"
        "def net(make_activation, seed, epochs):\n"
        "    x = torch.linspace(-2, 2, 9)\n"
        "    y = make_activation(inplace=True)(x.clone()) + make_activation(True)(x.clone())\n"
        "    return {'val_acc': float(torch.sigmoid(y.mean())), 'test_acc': 0.5}\n\n"
        "def leaves(make_activation, seed, epochs):\n"
        "    make_activation()\n"
        "    sys.exit(3)\n\n"
        "def diverged(make_activation, seed, epochs):\n"
        "    make_activation()\n"
        "    return {'val_acc': 0.5, 'test_acc': float('nan')}\n"
    )
    done = evaluate(make_job("x*tanh(x)", (f"{task}:net",), FAST, {}))
    assert done["status"] == "ok", done
    left = evaluate(make_job("x*tanh(x)", (f"{task}:leaves",), FAST, {}))
    assert left["status"] == "failed" and left["error"].startswith(f"user task {task}:leaves called sys.exit(3)")
    assert f" at {task}:11 in leaves: a task returns its measures" in left["error"]
    nan = evaluate(make_job("x*tanh(x)", (f"{task}:diverged",), FAST, {}))
    assert nan["status"] == "failed" and nan["error"].endswith("returned a non-finite measure (test_acc nan)")


def test_a_task_that_changes_torchs_settings_leaves_the_next_job_as_it_found_it(tmp_path):
    """A user task that switched the default dtype to float64 (and grad mode off, deterministic algorithms on) and
    never switched back failed every later candidate in its worker: "mat1 and mat2 must have the same dtype"."""
    import torch

    task = tmp_path / "f64.py"
    task.write_text(
        "import torch\n\ndef net(make_activation, seed, epochs):\n"
        "    torch.set_default_dtype(torch.float64)\n    torch.use_deterministic_algorithms(True)\n"
        "    y = make_activation()(torch.linspace(-2, 2, 9)).detach()\n"
        "    torch.set_grad_enabled(False)\n"
        "    return {'val_acc': float(torch.sigmoid(y.mean())), 'test_acc': 0.5}\n"
    )
    assert evaluate(make_job("x*tanh(x)", (f"{task}:net",), FAST, {}))["status"] == "ok"
    assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    assert evaluate(make_job("x*tanh(x)", ("mnist1d-mlp",), FAST, {}))["status"] == "ok"
