"""Folds on joblib's backends: same results as the sequential run, states kept by the workers.

Every backend is compared with the sequential fit of the same estimator, the
reference of the folds' arithmetic, to 1e-10. The Dask tests start their own
``LocalCluster`` (two worker processes) and are skipped only when
``distributed`` cannot be imported.
"""
import contextlib
import dataclasses
import os
import threading
import time

import numpy as np
import pytest
from joblib import parallel_config
from scipy import sparse
from sklearn.datasets import make_classification
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from hoag_shine import HeldOutCriterion, HyperOptimizer, InnerProblem
from hoag_shine.parallel import runner as _parallel
from hoag_shine.model.datafit import LogisticLoss
from hoag_shine.implicit.methods import ConjugateGradient, Shine, get_method

RTOL = 1e-10


@pytest.fixture(autouse=True)
def one_blas_thread():
    """BLAS on one thread here as in the workers, so that both sum in the same order."""
    with threadpool_limits(limits=1):
        yield


def _data(sparse_X=False, seed=0):
    X, y = make_classification(150, 12, n_informative=5, random_state=seed)
    return (sparse.csr_matrix(X) if sparse_X else X), y


def _fit(X, y, method="shine", **params):
    # without the refit, coef_ is the mean of the folds' solutions, the
    # workers' own output; the refit, done in the parent to a relative
    # 1e-8, would blur a last-bit difference between them to that level
    params = dict(dict(cv=3, max_iter=6, refit=False), **params)
    return HyperOptimizer(method, **params).fit(X, y)


def _assert_same_fit(a, b):
    # the same sequence of evaluated strengths, not only the same answer
    assert len(b.history_) == len(a.history_)
    np.testing.assert_allclose(np.array([r["log_alpha"] for r in b.history_]),
                               np.array([r["log_alpha"] for r in a.history_]),
                               rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(b.log_alpha_, a.log_alpha_, rtol=RTOL, atol=0)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose([r["outer_loss"] for r in b.history_],
                               [r["outer_loss"] for r in a.history_], rtol=RTOL)
    np.testing.assert_allclose(np.array([r["grad"] for r in b.history_]),
                               np.array([r["grad"] for r in a.history_]), rtol=1e-8,
                               atol=1e-12)
    assert [r["n_inner_iter"] for r in b.history_] == [r["n_inner_iter"] for r in a.history_]


def _criterion(X, y, method, n_jobs=None, n_splits=3):
    y_pm = np.where(y == 1, 1.0, -1.0)
    splits = StratifiedKFold(n_splits).split(X, y)
    folds = [(InnerProblem.from_data(X[tr], y_pm[tr], None, True),
              LogisticLoss(X[te], y_pm[te], True)) for tr, te in splits]
    return HeldOutCriterion(folds, method, n_jobs=n_jobs)


def _run(criterion, log_alphas, eps=1e-6):
    """Evaluate along ``log_alphas`` from the accepted states; return losses and grads."""
    states = criterion.initial_state(np.array(log_alphas[0]))
    out = []
    for lam in log_alphas:
        loss, grad, results, states = criterion.evaluate(np.array(lam), eps, states)
        out.append((loss, grad))
    return out, states, results


# -- equality with the sequential fit ---------------------------------------------


@pytest.mark.parametrize("sparse_X", [False, True])
@pytest.mark.parametrize("method", ["shine", "shine-opa", "cg"])
@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_backend_equals_sequential(backend, method, sparse_X):
    X, y = _data(sparse_X)
    a = _fit(X, y, method)
    with parallel_config(backend=backend):
        b = _fit(X, y, method, n_jobs=2)
    _assert_same_fit(a, b)


def test_refit_starts_from_the_workers_fold_solutions():
    """The refit's warm start, the folds' mean, comes back from the workers."""
    X, y = _data(seed=3)
    a = _fit(X, y, refit=True)
    b = _fit(X, y, refit=True, n_jobs=2)
    np.testing.assert_allclose(b.log_alpha_, a.log_alpha_, rtol=RTOL, atol=0)
    # both refits stop at a gradient norm below 1e-8 of the initial one
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-6)


# -- n_jobs=None follows the active joblib configuration --------------------------


class _RecordingShine(Shine):
    """SHINE that records the thread of every backward pass."""

    def __init__(self, threads):
        self.threads = threads

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        self.threads.append(threading.current_thread().name)
        return super().solve(hessian, rhs, inverse_hessian, q0, tol)


def test_n_jobs_none_follows_parallel_config():
    """A tiny fit (150 x 12) reaches the configured backend: its threads ran every pass."""
    X, y = _data()
    outside = []
    _fit(X, y, _RecordingShine(outside), max_iter=3)
    assert outside and set(outside) == {threading.main_thread().name}
    inside = []
    with parallel_config(backend="threading", n_jobs=2):
        b = _fit(X, y, _RecordingShine(inside), max_iter=3)
    assert len(inside) == len(outside) == 3 * len(b.history_)
    assert threading.main_thread().name not in inside
    assert all(name != threading.current_thread().name for name in inside)
    _assert_same_fit(_fit(X, y, max_iter=3), b)


def test_explicit_n_jobs_one_runs_in_turn_inside_a_config():
    X, y = _data()
    threads = []
    with parallel_config(backend="threading", n_jobs=2):
        _fit(X, y, _RecordingShine(threads), max_iter=2, n_jobs=1)
    assert set(threads) == {threading.main_thread().name}


# -- the criterion's contract: states stay valid, method override, lifetime --------


@pytest.mark.parametrize("backend", [None, "threading", "loky"])
def test_states_stay_valid_and_method_override(backend):
    """Re-evaluating from kept states gives the same numbers; ``method=`` is per call."""
    X, y = _data(seed=1)
    lams = [[0.0], [-0.5], [-1.0]]
    reference, _, _ = _run(_criterion(X, y, Shine()), lams)
    with parallel_config(backend=backend or "sequential"), \
            _criterion(X, y, Shine(), n_jobs=None if backend is None else 2) as crit:
        states0 = crit.initial_state(np.array([0.0]))
        _, _, _, states1 = crit.evaluate(np.array([0.0]), 1e-6, states0)
        loss_a, grad_a, _, states_a = crit.evaluate(np.array([-0.5]), 1e-6, states1)
        # a rejected step: evaluate elsewhere from states1, then again from states1
        crit.evaluate(np.array([2.0]), 1e-6, states1)
        loss_b, grad_b, _, _ = crit.evaluate(np.array([-0.5]), 1e-6, states1)
        np.testing.assert_allclose(loss_a, reference[1][0], rtol=RTOL)
        np.testing.assert_allclose(grad_a, reference[1][1], rtol=1e-8)
        assert loss_b == loss_a and np.array_equal(grad_b, grad_a)
        # the same point with another backward pass, for this evaluation only
        cg = ConjugateGradient(tol=1e-12)
        _, grad_cg, _, _ = crit.evaluate(np.array([-0.5]), 1e-6, states1, method=cg)
        _, grad_again, _, _ = crit.evaluate(np.array([-0.5]), 1e-6, states1)
    with _criterion(X, y, Shine()) as seq:
        _, _, _, s1 = seq.evaluate(np.array([0.0]), 1e-6, seq.initial_state(np.array([0.0])))
        _, grad_seq_cg, _, _ = seq.evaluate(np.array([-0.5]), 1e-6, s1, method=cg)
    np.testing.assert_allclose(grad_cg, grad_seq_cg, rtol=1e-8)
    assert not np.allclose(grad_cg, grad_a, rtol=1e-6)
    assert np.array_equal(grad_again, grad_a)


def test_slim_keeps_every_field_but_the_memory():
    X, y = _data()
    with _criterion(X, y, Shine()) as crit:
        _, _, (full, *_), _ = crit.evaluate(
            np.array([0.0]), 1e-6, crit.initial_state(np.array([0.0])))
    light = _parallel.slim(full)
    for field in dataclasses.fields(full):
        if field.name != "inner":
            assert getattr(light, field.name) is getattr(full, field.name)
    assert set(full.inner) - set(light.inner) == {"memory", "inverse_hessian"}
    assert all(light.inner[key] is full.inner[key] for key in light.inner)
    assert _parallel.payload_nbytes(light) < _parallel.payload_nbytes(full) / 3


def test_loky_moves_handles_and_releases_files(tmp_path, monkeypatch):
    """On process workers the states are small file handles, removed when dropped or closed."""
    monkeypatch.setattr(_parallel, "SHARED_MEMORY_FOLDER", str(tmp_path))
    X, y = _data(seed=2)
    crit = _criterion(X, y, Shine(), n_jobs=2)
    _, states, results = _run(crit, [[0.0], [-0.5]])
    assert all(isinstance(s, _parallel.StateFile) for s in states)
    assert all(os.path.isfile(s.path) for s in states)
    assert all("memory" not in r.inner and r.inner.success is not None for r in results)
    assert all(_parallel.payload_nbytes(s) < 300 for s in states)
    (folder,) = tmp_path.iterdir()
    n_files = len(list(folder.iterdir()))
    paths = [s.path for s in states]
    del states
    assert not any(os.path.exists(p) for p in paths)
    assert len(list(folder.iterdir())) == n_files - 3
    crit.close()
    assert list(tmp_path.iterdir()) == []
    crit.close()  # twice is harmless


def test_workers_on_another_host_get_everything_shipped(monkeypatch):
    """Process workers whose host differs share no folder: each task carries its fold."""
    monkeypatch.setattr(_parallel.socket, "gethostname", lambda: "parent-host")
    X, y = _data(seed=6)
    reference, _, _ = _run(_criterion(X, y, Shine()), [[0.0], [-0.5], [-1.0]])
    with _criterion(X, y, Shine(), n_jobs=2) as crit:
        got, states, results = _run(crit, [[0.0], [-0.5], [-1.0]])
        assert crit._runner.workers.folder is None
    assert all(type(s).__name__ == "FoldState" and len(s.memory) > 0 for s in states)
    for (loss, grad), (ref_loss, ref_grad) in zip(got, reference):
        np.testing.assert_allclose(loss, ref_loss, rtol=RTOL)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-8)


def test_interrupted_fit_releases_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(_parallel, "SHARED_MEMORY_FOLDER", str(tmp_path))
    X, y = _data()
    folders = []

    def interrupt(state):
        folders.append(len(list(tmp_path.iterdir())))
        if state["iteration"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(X, y, n_jobs=2, callback=interrupt)
    assert folders[-1] == 1  # the workers' folder existed when the fit was interrupted
    assert list(tmp_path.iterdir()) == []


def test_the_backend_runs_every_round_of_a_tiny_fit(monkeypatch):
    """The workers are set up at the first evaluation, once, however light the splits."""
    started = []
    start_workers = _parallel.start_workers

    def recording(*args):
        started.append(args)
        return start_workers(*args)

    monkeypatch.setattr(_parallel, "start_workers", recording)
    X, y = _data(seed=7)
    lams = [[0.0], [-0.5], [-1.0]]
    reference, _, _ = _run(_criterion(X, y, Shine()), lams)
    with _criterion(X, y, Shine(), n_jobs=2) as crit:
        states = crit.initial_state(np.array(lams[0]))
        got = []
        for lam in lams:
            loss, grad, results, states = crit.evaluate(np.array(lam), 1e-6, states)
            assert len(started) == 1
            assert all(isinstance(s, _parallel.StateFile) for s in states)
            assert all("memory" not in r.inner for r in results)
            got.append((loss, grad))
    for (a, b), (ref_a, ref_b) in zip(got, reference):
        np.testing.assert_allclose(a, ref_a, rtol=RTOL)
        np.testing.assert_allclose(b, ref_b, rtol=1e-8)


def test_one_worker_runs_in_the_parent(monkeypatch):
    """An effective n_jobs of one never starts workers; the results keep their memory."""
    monkeypatch.setattr(_parallel, "start_workers", None)  # any call would fail
    X, y = _data()
    with parallel_config(backend="loky", n_jobs=1), _criterion(X, y, Shine()) as crit:
        _, states, results = _run(crit, [[0.0], [-0.5]])
    assert all(type(s).__name__ == "FoldState" and s.memory for s in states)
    assert all(len(r.inner.memory) > 0 for r in results)


def test_state_folder_leaves_a_full_shared_memory(monkeypatch, tmp_path):
    """/dev/shm only when its free space holds the states twice over; else the temp dir."""
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    shm.mkdir()
    tmp.mkdir()
    monkeypatch.setattr(_parallel, "SHARED_MEMORY_FOLDER", str(shm))
    monkeypatch.setattr(_parallel.tempfile, "tempdir", str(tmp))
    free = 64 * 2 ** 20
    usage = _parallel.shutil.disk_usage(tmp_path)._replace(free=free)
    monkeypatch.setattr(_parallel.shutil, "disk_usage", lambda path: usage)
    assert os.path.dirname(_parallel._state_folder(free // 2)) == str(shm)
    assert os.path.dirname(_parallel._state_folder(free // 2 + 1)) == str(tmp)


def test_state_folder_is_sized_from_the_states(monkeypatch, tmp_path):
    """The criterion asks for room for a few states of each split."""
    asked = []
    state_folder = _parallel._state_folder
    monkeypatch.setattr(_parallel, "_state_folder",
                        lambda nbytes: asked.append(nbytes) or state_folder(nbytes))
    X, y = _data()
    with _criterion(X, y, Shine(), n_jobs=2) as crit:
        _run(crit, [[0.0]])
    m = Shine.default_memory
    n_coef = X.shape[1] + 1
    assert asked == [_parallel.LIVE_STATES_PER_SPLIT * 3 * 8 * n_coef * (2 * m + 2)]


# -- Dask's distributed scheduler ---------------------------------------------------


@contextlib.contextmanager
def _local_cluster():
    """``(cluster, client)`` of two worker processes, closed on leaving."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        death_timeout=120)
    client = distributed.Client(cluster, timeout=120)
    try:
        client.wait_for_workers(2, timeout=180)
        yield cluster, client
    finally:
        client.close(timeout=60)
        cluster.close(timeout=60)


@pytest.fixture(scope="module")
def dask_client():
    with _local_cluster() as (_, client):
        yield client


def _n_scheduler_tasks(client, timeout=60.0):
    """Tasks the scheduler still holds, once releases have settled."""
    deadline = time.monotonic() + timeout
    while True:
        n = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


@pytest.mark.parametrize("sparse_X", [False, True])
def test_dask_equals_sequential(dask_client, sparse_X):
    X, y = _data(sparse_X)
    a = _fit(X, y, "shine-opa")
    with parallel_config(backend="dask"):
        b = _fit(X, y, "shine-opa")
    _assert_same_fit(a, b)
    assert _n_scheduler_tasks(dask_client) == 0


def test_dask_splits_compute_like_the_parent(dask_client):
    """Long vectors: scattered arrays, not aligned as numpy allocates them, rounded otherwise."""
    X, y = make_classification(1500, 300, n_informative=30, flip_y=0.05, random_state=0)
    a = _fit(X, y, "shine")
    with parallel_config(backend="dask"):
        b = _fit(X, y, "shine")
    _assert_same_fit(a, b)


class _FailingShine(Shine):
    """SHINE whose backward pass fails (on the workers)."""

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        raise ArithmeticError("backward pass failed")


def test_a_split_failing_on_a_dask_worker_leaves_nothing(dask_client):
    X, y = _data(seed=8)
    for _ in range(2):
        with parallel_config(backend="dask"), pytest.raises(ArithmeticError, match="backward"):
            _fit(X, y, _FailingShine())
    assert _n_scheduler_tasks(dask_client) == 0


def _fit_with_workers(X, y):
    """Run in a Dask task: a fit whose splits go to the same cluster's workers."""
    with parallel_config(backend="dask"):
        clf = _fit(X, y, "shine")
    return clf.log_alpha_, clf.coef_


def test_fit_inside_a_dask_task_does_not_wait_for_its_own_slot(dask_client):
    """A fit in a Dask-backed search: its splits' tasks need the slot its own task holds."""
    X, y = _data(seed=9)
    reference = _fit(X, y, "shine")
    # one worker thread each: the task must leave its slot while it waits
    log_alpha, coef = dask_client.submit(_fit_with_workers, X, y, pure=False).result(timeout=120)
    np.testing.assert_allclose(log_alpha, reference.log_alpha_, rtol=RTOL, atol=0)
    np.testing.assert_allclose(coef, reference.coef_, rtol=RTOL, atol=1e-14)
    assert _n_scheduler_tasks(dask_client) == 0


def test_dask_states_are_futures_on_the_workers(dask_client):
    distributed = pytest.importorskip("distributed")
    X, y = _data(seed=4)
    reference, _, _ = _run(_criterion(X, y, get_method("shine")), [[0.0], [-0.5]])
    with parallel_config(backend="dask"):
        crit = _criterion(X, y, get_method("shine"))
        got, states, results = _run(crit, [[0.0], [-0.5]])
    assert all(isinstance(s, distributed.Future) for s in states)
    assert all("memory" not in r.inner for r in results)
    for (loss, grad), (ref_loss, ref_grad) in zip(got, reference):
        np.testing.assert_allclose(loss, ref_loss, rtol=RTOL)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-8)
    # the memory stayed on the workers: the state future holds it
    state = states[0].result(timeout=120)
    assert state.memory is not None and len(state.memory) > 0
    crit.close()
    del states
    assert _n_scheduler_tasks(dask_client) == 0


# -- a Dask worker leaving in the middle of a fit -------------------------------------


@pytest.fixture
def doomed_cluster():
    """A cluster of two worker processes of this test's own, to lose one of them."""
    with _local_cluster() as (cluster, client):
        yield cluster, client


def _kill(cluster, address):
    """Kill the process of the worker at ``address`` (its nanny starts a new one)."""
    (nanny,) = [n for n in cluster.workers.values() if n.worker_address == address]
    nanny.process.process.kill()


def test_a_killed_dask_worker_is_named(doomed_cluster):
    """Killed between two rounds: its splits' states are lost; one error names it."""
    from hoag_shine import WorkerLostError

    cluster, client = doomed_cluster
    killed = []

    def kill_one(state):
        if state["iteration"] == 2:
            killed.append(sorted(client.nthreads())[0])
            _kill(cluster, killed[0])

    X, y = _data(seed=10)
    clf = HyperOptimizer(cv=3, max_iter=6, refit=False, callback=kill_one)
    with parallel_config(backend="dask"), pytest.raises(WorkerLostError) as info:
        clf.fit(X, y)
    assert info.value.workers == tuple(killed)
    assert killed[0] in str(info.value)
    assert not hasattr(clf, "coef_")
    assert _n_scheduler_tasks(client) == 0


class _SelfKillingShine(Shine):
    """SHINE whose backward pass kills its Dask worker once ``armed`` exists."""

    def __init__(self, armed):
        self.armed = armed

    def solve(self, hessian, rhs, inverse_hessian, q0=None, tol=None):
        try:
            from distributed import get_worker
            get_worker()
        except ValueError:
            return super().solve(hessian, rhs, inverse_hessian, q0, tol)
        try:
            os.remove(self.armed)  # only the first task to get here
        except FileNotFoundError:
            return super().solve(hessian, rhs, inverse_hessian, q0, tol)
        os._exit(1)


def test_a_dask_worker_dying_in_a_task(doomed_cluster, tmp_path):
    """A worker dies while evaluating a split: the fit ends as the sequential one, or
    with one error naming the worker, never with the error of a lost future."""
    from hoag_shine import WorkerLostError

    cluster, client = doomed_cluster
    armed = tmp_path / "armed"
    before = set(client.nthreads())

    def arm(state):
        if state["iteration"] == 2:
            armed.touch()

    X, y = _data(seed=11)
    reference = _fit(X, y, "shine")
    try:
        with parallel_config(backend="dask"):
            got = _fit(X, y, _SelfKillingShine(str(armed)), callback=arm)
    except WorkerLostError as exc:
        assert not armed.exists()
        assert len(exc.workers) == 1 and exc.workers[0] in before
        assert exc.workers[0] not in client.nthreads()
    else:
        _assert_same_fit(reference, got)
    assert _n_scheduler_tasks(client) == 0


def test_a_retired_dask_worker_hands_its_splits_over(doomed_cluster):
    """Retired gracefully, a worker moves its data first: the fit goes on unchanged."""
    _, client = doomed_cluster

    def retire_one(state):
        if state["iteration"] == 2:
            client.retire_workers([sorted(client.nthreads())[0]])

    X, y = _data(seed=12)
    reference = _fit(X, y, "shine")
    with parallel_config(backend="dask"):
        got = _fit(X, y, "shine", callback=retire_one)
    _assert_same_fit(reference, got)
    assert len(client.nthreads()) == 1
