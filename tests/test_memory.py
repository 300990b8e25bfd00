"""Tests for lit_kd.memory: iCaRL herding and the exemplar memory."""

import io
import math

import pytest
import torch

from lit_kd.memory import ExemplarMemory, herding_selection


# --------------------------------------------------------------------------- herding
def _reference_herding(features, m):
    """Brute-force iCaRL herding, written independently: float64, Python loops."""
    X = features.to(torch.float64)
    n, d = X.shape
    phi = []
    for i in range(n):
        norm = math.sqrt(sum(float(v) ** 2 for v in X[i]))
        phi.append(X[i] / norm if norm > 0 else torch.zeros(d, dtype=torch.float64))
    phi = torch.stack(phi)
    mu = phi.sum(dim=0) / n
    chosen, running = [], torch.zeros(d, dtype=torch.float64)
    for k in range(1, min(m, n) + 1):
        best, best_dist = None, float("inf")
        for i in range(n):
            if i in chosen:
                continue
            dist = float(torch.linalg.vector_norm(mu - (phi[i] + running) / k))
            if dist < best_dist:  # strict: keeps the lowest index on ties
                best, best_dist = i, dist
        chosen.append(best)
        running = running + phi[best]
    return chosen


@pytest.mark.parametrize(
    "n, d, m, seed",
    [(1, 3, 1, 0), (5, 2, 10, 1), (30, 8, 10, 2), (40, 16, 40, 3), (25, 4, 31, 4), (60, 32, 12, 5)],
)
def test_herding_matches_bruteforce(n, d, m, seed):
    g = torch.Generator().manual_seed(seed)
    # Unnormalised, shifted features so the normalisation inside matters.
    feats = torch.randn(n, d, generator=g) * torch.rand(n, 1, generator=g) * 5 + 0.3
    got = herding_selection(feats, m)
    assert got.dtype == torch.long
    assert got.shape == (min(m, n),)
    assert got.tolist() == _reference_herding(feats, m)
    assert len(set(got.tolist())) == got.numel()


def test_herding_m_at_least_n_is_a_permutation():
    feats = torch.randn(17, 5, generator=torch.Generator().manual_seed(7))
    for m in (17, 18, 1000):
        got = herding_selection(feats, m)
        assert sorted(got.tolist()) == list(range(17))


def test_herding_first_pick_is_closest_to_mean_and_prefix_property():
    feats = torch.randn(100, 12, generator=torch.Generator().manual_seed(11)) + 1.0
    phi = feats / feats.norm(dim=1, keepdim=True)
    closest = int((phi - phi.mean(0)).norm(dim=1).argmin())
    full = herding_selection(feats, 30)
    assert int(full[0]) == closest
    # Greedy: a shorter selection is a prefix of a longer one.
    assert herding_selection(feats, 7).tolist() == full[:7].tolist()


def test_herding_is_scale_invariant_and_dtype_agnostic():
    feats = torch.randn(40, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    scales = torch.rand(40, 1, dtype=torch.float64) * 10 + 0.1
    base = herding_selection(feats, 15)
    assert herding_selection(feats * scales, 15).tolist() == base.tolist()
    assert herding_selection(feats.float(), 15).tolist() == base.tolist()


def test_herding_ties_go_to_lowest_index():
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # k=1: all four are equidistant from mu=(.5,.5) -> 0; k=2: row 2 completes the mean exactly;
    # k=3: rows 1 and 3 tie -> 1; then 3.
    assert herding_selection(feats, 4).tolist() == [0, 2, 1, 3]
    assert herding_selection(torch.ones(6, 3), 6).tolist() == list(range(6))


def test_herding_edge_cases_and_errors():
    assert herding_selection(torch.randn(5, 3), 0).tolist() == []
    assert herding_selection(torch.empty(0, 3), 4).tolist() == []
    out = herding_selection(torch.zeros(3, 2), 3)  # all-zero rows stay zero, still distinct
    assert sorted(out.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="features"):
        herding_selection(torch.randn(5), 2)
    with pytest.raises(ValueError, match="features"):
        herding_selection(torch.randn(2, 3, 4), 2)
    with pytest.raises(ValueError, match="num_exemplars"):
        herding_selection(torch.randn(5, 3), -1)
    with pytest.raises(ValueError, match="finite"):
        herding_selection(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), 1)
    with pytest.raises(TypeError, match="num_exemplars"):
        herding_selection(torch.randn(5, 3), 2.5)


def test_herding_does_not_track_grad_or_modify_input():
    feats = torch.randn(10, 4, requires_grad=True)
    before = feats.detach().clone()
    out = herding_selection(feats, 5)
    assert not out.requires_grad
    assert torch.equal(feats.detach(), before)


def test_herding_is_vectorised_op_count_independent_of_n():
    """Timing-free check: the number of tensor ops depends on m only, never on n."""
    dispatch = pytest.importorskip("torch.utils._python_dispatch")

    class CountOps(dispatch.TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.count += 1
            return func(*args, **(kwargs or {}))

    counts = []
    g = torch.Generator().manual_seed(0)
    for n in (20, 400):
        feats = torch.randn(n, 8, generator=g)
        with CountOps() as mode:
            herding_selection(feats, 10)
        counts.append(mode.count)
    assert counts[0] == counts[1]
    assert counts[0] < 40 * 10  # a handful of ops per pick


# --------------------------------------------------------------------------- memory
def _simulate(memory_size=20, num_tasks=5, classes_per_task=2, per_class=50, seed=0, num_classes=10):
    """Class-incremental run: class c owns dataset indices [c*per_class, (c+1)*per_class)."""
    g = torch.Generator().manual_seed(seed)
    mem = ExemplarMemory(memory_size=memory_size, num_classes=num_classes)
    rankings, history = {}, []
    for task in range(num_tasks):
        new = range(task * classes_per_task, (task + 1) * classes_per_task)
        budget = mem.per_class_budget(len(mem.classes) + len(new))
        ranked = {}
        for c in new:
            dataset_idx = c * per_class + torch.randperm(per_class, generator=g)
            feats = torch.randn(per_class, 8, generator=g)
            ranked[c] = dataset_idx[herding_selection(feats, budget)]
        rankings.update(ranked)
        mem.add_classes(ranked)
        history.append({c: mem.indices(c).tolist() for c in mem.classes})
    return mem, rankings, history


def test_memory_budget_over_five_tasks():
    mem = ExemplarMemory(memory_size=20, num_classes=10)
    expected_per_class = [10, 5, 3, 2, 2]
    expected_totals = [20, 20, 18, 16, 20]
    g = torch.Generator().manual_seed(1)
    for task in range(5):
        ranked = {c: c * 100 + torch.randperm(100, generator=g)[:10] for c in (2 * task, 2 * task + 1)}
        mem.add_classes(ranked)
        assert mem.classes == list(range(2 * task + 2))
        assert mem.per_class_budget(len(mem.classes)) == expected_per_class[task]
        for c in mem.classes:
            assert mem.indices(c).numel() == expected_per_class[task]
        assert len(mem) == expected_totals[task] == mem.indices().numel() == mem.labels().numel()
        assert len(mem) <= 20


def test_memory_truncates_rankings_never_recomputes():
    mem, rankings, history = _simulate()
    per_class = [10, 5, 3, 2, 2]
    for t, snapshot in enumerate(history):
        for c, kept in snapshot.items():
            assert kept == rankings[c][: per_class[t]].tolist()
            if t > 0 and c in history[t - 1]:
                prev = history[t - 1][c]
                assert kept == prev[: len(kept)]  # a prefix of what it held before
    # indices()/labels() are the per-class sets concatenated in class order.
    expected_idx = [i for c in range(10) for i in rankings[c][:2].tolist()]
    assert mem.indices().tolist() == expected_idx
    assert mem.labels().tolist() == [c for c in range(10) for _ in range(2)]
    # Every exemplar is a dataset index of its own class (c*50 .. c*50+49).
    assert all(i // 50 == c for i, c in zip(mem.indices().tolist(), mem.labels().tolist()))


def test_memory_state_dict_round_trip_strict():
    mem, rankings, _ = _simulate(num_tasks=3)
    buf = io.BytesIO()
    torch.save(mem.state_dict(), buf)
    buf.seek(0)
    fresh = ExemplarMemory(memory_size=20, num_classes=10)
    assert len(fresh) == 0 and fresh.classes == []
    result = fresh.load_state_dict(torch.load(buf, weights_only=True), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(mem.state_dict()) == {"ranking", "num_kept", "seen"}
    assert fresh.classes == mem.classes == list(range(6))
    assert len(fresh) == len(mem) == 18
    assert torch.equal(fresh.indices(), mem.indices())
    assert torch.equal(fresh.labels(), mem.labels())
    # The restored memory keeps the full stored ranking, so it reduces identically later.
    more = {6: torch.tensor([900, 901]), 7: torch.tensor([950, 951])}
    mem.add_classes(more)
    fresh.add_classes(more)
    assert torch.equal(fresh.indices(), mem.indices()) and len(fresh) == 16
    # A memory of another shape cannot be loaded strictly.
    with pytest.raises(RuntimeError):
        ExemplarMemory(memory_size=10, num_classes=10).load_state_dict(mem.state_dict(), strict=True)


def test_memory_too_small_for_classes():
    mem = ExemplarMemory(memory_size=3, num_classes=10)
    mem.add_classes({0: torch.tensor([1, 2, 3]), 1: torch.tensor([4, 5])})
    with pytest.raises(ValueError, match="memory_size"):
        mem.add_classes({2: torch.tensor([6]), 3: torch.tensor([7])})
    # The failed call changed nothing.
    assert mem.classes == [0, 1] and mem.indices().tolist() == [1, 4]
    with pytest.raises(ValueError, match="memory_size"):
        mem.per_class_budget(4)
    with pytest.raises(ValueError, match="memory_size"):
        mem.reduce(4)


def test_memory_argument_errors():
    with pytest.raises(ValueError, match="memory_size"):
        ExemplarMemory(memory_size=0, num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        ExemplarMemory(memory_size=5, num_classes=0)
    mem = ExemplarMemory(memory_size=6, num_classes=3)
    with pytest.raises(ValueError, match="class id"):
        mem.add_class(3, torch.tensor([1]))
    with pytest.raises(ValueError, match="distinct"):
        mem.add_class(0, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        mem.add_class(0, torch.tensor([-1, 2]))
    with pytest.raises(ValueError, match="integer"):
        mem.add_class(0, torch.tensor([1.0, 2.0]))
    mem.add_class(0, torch.tensor([4, 5, 6, 7, 8, 9, 10]))  # longer than memory_size: cut
    assert mem.indices(0).tolist() == [4, 5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="already"):
        mem.add_class(0, torch.tensor([1]))
    assert mem.indices(2).tolist() == []  # unseen class: empty


def test_memory_short_ranking_and_explicit_num_seen():
    mem = ExemplarMemory(memory_size=12, num_classes=4)
    mem.add_classes({0: torch.tensor([1, 2]), 1: torch.arange(10, 22)})
    assert mem.indices(0).tolist() == [1, 2]  # fewer samples than budget: keeps what it has
    assert mem.indices(1).numel() == 6
    mem.reduce(4)  # e.g. reserve room for all 4 classes of the benchmark
    assert mem.indices(1).tolist() == list(range(10, 13)) and len(mem) == 5
