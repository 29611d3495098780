"""The problem side on its own: proposals become stored candidates, screened, deduplicated, trained by real workers,
scored against the baselines and collected, with the counts the algorithm's quota uses."""

from evoact.config import make_config
from evoact.evolution import Proposal
from evoact.formula import to_formula
from evoact.genome import Genome, load_search_space
from evoact.hooks import Hook, Hooks
from evoact.problem import Problem
from evoact.records import Candidate, Stage, Status
from evoact.store import RunStore
from evoact.workers import WorkerPool


class _Finished(Hook):
    def __init__(self) -> None:
        self.ids: list[int] = []

    def finished(self, candidate: Candidate) -> None:
        self.ids.append(candidate.id)


def test_a_generation_is_screened_deduplicated_trained_scored_and_collected(tmp_path):
    config = make_config("tiny", tasks=("mnist1d-mlp",), workers=1, race_top=0, seed=1, epochs=1)
    space = load_search_space(config.space)
    genome = Genome(space)
    trees = ["add(x, tanh(x))", "add(x, x)", "mul(x, sigmoid(x))", "add(tanh(x), x)"]
    proposals = [
        Proposal(tree, to_formula(genome.to_expr(genome.parse(tree))), len(genome.parse(tree)), "random")
        for tree in trees
    ]
    store = RunStore.create(tmp_path / "run", {"config": config.to_dict()})
    heard = _Finished()
    problem = Problem(store, config, space, Hooks(heard), {"mnist1d-mlp": "accuracy"})
    pool = WorkerPool(1, timeout=300)
    try:
        problem.evaluate_baselines(pool)
        baselines = {r.label: r for r in store.baselines()}
        assert set(baselines) == set(config.baselines) and all(r.outcome.fitness for r in baselines.values())
        assert set(heard.ids) == {r.id for r in baselines.values()}
        problem.start_generation()
        candidates, passed = problem.submit(proposals, generation=0)
        assert passed == 3  # the affine one is screened out before it counts; a reuse counts, for free
        assert problem.in_flight == 1  # x + tanh(x) trains once; its twin waits for its outcome
        problem.drain()
        collected = problem.collect()
    finally:
        pool.close()
        problem.close()
    trained, affine, silu, twin = (store.candidate(c.id) for c in candidates)
    assert [c.id for c in collected] == [affine.id, silu.id, trained.id, twin.id]  # in the order they got outcomes
    assert affine.status == Status.REJECTED and affine.outcome.stage == Stage.STATIC
    assert silu.outcome.stage == Stage.CACHE and silu.outcome.duplicate_of == baselines["silu"].id
    assert silu.outcome.fitness == baselines["silu"].outcome.fitness
    assert trained.status == Status.OK and trained.outcome.fitness is not None
    assert twin.outcome.duplicate_of == trained.id and twin.outcome.fitness == trained.outcome.fitness
    assert problem.fitness(twin.id) == problem.fitness(trained.id) == trained.outcome.fitness
    store.close()
