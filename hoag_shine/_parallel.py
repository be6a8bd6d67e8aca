"""Where the splits of a held-out criterion are evaluated, and what travels.

A runner owns, for one fit, the workers that evaluate the splits, the split
data shipped to them and the warm-start states they keep. It is chosen from
where a probe task of the active joblib backend runs:

* :class:`InProcessRunner` -- the splits run in the parent's process, one
  after another (one worker) or on joblib's threads; the states are
  :class:`~hoag_shine.criterion.FoldState` objects the parent holds, and
  nothing is pickled. Backends that run tasks on another machine without
  Dask's scheduler (e.g. Ray's) also use it, and then ship the splits and
  the states with every task, as plain joblib does.
* :class:`FolderRunner` -- process workers on the parent's machine (loky,
  multiprocessing): the splits are written once per fit to a temporary
  folder and memory-mapped by the workers; each task writes its new state
  there and returns its path. The pipes to the workers carry
  ``O(n_hyper + n_coef)`` bytes per split and iteration; the L-BFGS memory
  goes through the folder (RAM-backed ``/dev/shm`` when it exists).
* :class:`DaskRunner` -- Dask's distributed scheduler: the splits are
  scattered once per fit; each state stays on the worker that computed it
  as a future, and the next task of that split is scheduled where its state
  and data are. Only the slimmed results come back to the parent.

The last two measure each evaluation after the first two: when the splits'
own work took less time than their round on the workers, the parent
evaluates them itself, from the same states, until that takes longer than
the workers' last round.

Handles returned in place of states (file handles, futures) keep their
state alive while the caller references them; :meth:`close` releases every
one of them together with the workers and the shipped data.
"""
import dataclasses
import math
import os
import pickle
import shutil
import socket
import tempfile
import uuid
import weakref
from contextlib import ExitStack
from time import perf_counter

import joblib
from joblib import Parallel, delayed, effective_n_jobs
from scipy.optimize import OptimizeResult

#: entries of the inner solver's result that stay on the worker: the L-BFGS
#: memory and the inverse-Hessian operator built on it (O(m n_coef) bytes)
HEAVY_INNER_FIELDS = ("memory", "inverse_hessian")


def make_runner(folds, n_jobs, evaluate_fold):
    """Runner for ``folds`` under the active joblib configuration.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits.
    n_jobs : int or None
        joblib's ``n_jobs`` (None defers to the active ``parallel_config``).
    evaluate_fold : callable
        ``evaluate_fold(fold, state, log_alpha, eps, options) -> (result,
        new_state)``, a module-level function.

    Returns
    -------
    InProcessRunner, FolderRunner or DaskRunner
        The runner of the backend.
    """
    if len(folds) == 1 or effective_n_jobs(n_jobs) == 1:
        return InProcessRunner(folds, evaluate_fold, None, ExitStack())
    stack = ExitStack()
    try:
        parallel = stack.enter_context(Parallel(n_jobs=n_jobs))
        pid, host, scheduler = parallel([delayed(_where)()])[0]
        if scheduler is not None:
            client = _dask_client(scheduler)
            if client is not None:
                stack.close()
                return DaskRunner(folds, evaluate_fold, client)
        if pid != os.getpid() and host == socket.gethostname():
            return FolderRunner(folds, evaluate_fold, parallel, stack)
        return InProcessRunner(folds, evaluate_fold, parallel, stack)
    except BaseException:
        stack.close()
        raise


def slim(result):
    """The result without the inner solver's memory and inverse operator.

    Parameters
    ----------
    result : HypergradientResult
        Result of one split.

    Returns
    -------
    HypergradientResult
        A copy whose ``inner`` lacks the entries of ``HEAVY_INNER_FIELDS``;
        every other field is the same object.
    """
    light = OptimizeResult({key: value for key, value in result.inner.items()
                            if key not in HEAVY_INNER_FIELDS})
    return dataclasses.replace(result, inner=light)


def _where():
    """Process id, host and Dask scheduler address (or None) of the worker."""
    try:
        from distributed import get_worker
        scheduler = get_worker().scheduler.address
    except (ImportError, ValueError):
        scheduler = None
    return os.getpid(), socket.gethostname(), scheduler


def _dask_client(scheduler):
    """The parent's Dask client when it talks to ``scheduler``, else None."""
    from distributed import get_client
    try:
        client = get_client()
    except ValueError:
        return None
    return client if client.scheduler.address == scheduler else None


class _Runner:
    """Common lifetime of the runners: an exit stack closed once."""

    def __init__(self, folds, evaluate_fold, stack):
        self.folds = folds
        self.evaluate_fold = evaluate_fold
        self._close = weakref.finalize(self, stack.close)

    def close(self):
        """Release the workers, the shipped data and every live state."""
        self._close()


def _without_memory(state):
    """The state without its L-BFGS memory (a state object or one already light)."""
    if getattr(state, "memory", None) is None:
        return state
    return dataclasses.replace(state, memory=None)


class _RemoteRunner(_Runner):
    """Runner whose workers are other processes, which the parent can stand in for.

    Handing a split to a worker costs a round trip; when the splits' own
    work (as the workers measured it) took less time than the last round on
    the workers, the next evaluations run in the parent, from the same
    states, until they take longer than that round. The first two rounds
    run on the workers whatever they cost.
    """

    def __init__(self, folds, evaluate_fold, stack):
        super().__init__(folds, evaluate_fold, stack)
        self._seconds = {"workers": 0.0, "parent": math.inf}
        self._rounds = 0

    def lighten(self, states):
        """The states without their L-BFGS memories, where they are kept.

        Parameters
        ----------
        states : list of FoldState or state handles
            States of one evaluation.

        Returns
        -------
        list
            States held by the parent lose their memory; handles are
            replaced by handles of the memory-free states (see
            :meth:`lighten_handles`).
        """
        return [_without_memory(s) for s in self.lighten_handles(states)]

    def _in_parent(self):
        # the first round also pays for loading the splits on the workers:
        # it says nothing about the next ones
        return self._rounds > 1 and self._seconds["parent"] < self._seconds["workers"]

    def evaluate(self, log_alpha, eps, states, options):
        """Evaluate every split from its state, where that is faster.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths.
        eps : float
            Relative tolerance.
        states : list of FoldState or state handles
            One per split (only read).
        options : dict
            Keyword arguments of the split evaluation.

        Returns
        -------
        list of (HypergradientResult, FoldState or state handle)
            Slimmed result and new state of each split.
        """
        start = perf_counter()
        if self._in_parent():
            pairs = [self.evaluate_fold(fold, state, log_alpha, eps, options)
                     for fold, state in zip(self.folds, self.fetch(states))]
            pairs = [(slim(result), state) for result, state in pairs]
            self._seconds["parent"] = perf_counter() - start
        else:
            pairs = self.remote(log_alpha, eps, states, options)
            self._rounds += 1
            self._seconds["workers"] = perf_counter() - start
            self._seconds["parent"] = sum(r.time_forward + r.time_backward for r, _ in pairs)
        return pairs


class InProcessRunner(_Runner):
    """Splits evaluated in the parent's process, in turn or on joblib's workers.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits.
    evaluate_fold : callable
        Evaluation of one split (see :func:`make_runner`).
    parallel : joblib.Parallel or None
        Entered ``Parallel`` (None: a plain loop, nothing pickled).
    stack : contextlib.ExitStack
        What :meth:`close` exits.
    """

    def __init__(self, folds, evaluate_fold, parallel, stack):
        super().__init__(folds, evaluate_fold, stack)
        self.parallel = parallel

    @staticmethod
    def lighten(states):
        """The states without their L-BFGS memories.

        Parameters
        ----------
        states : list of FoldState
            States of one evaluation.

        Returns
        -------
        list of FoldState
            New states, ``memory=None``.
        """
        return [_without_memory(s) for s in states]

    def evaluate(self, log_alpha, eps, states, options):
        """Evaluate every split from its state.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths.
        eps : float
            Relative tolerance.
        states : list of FoldState
            One per split (not modified).
        options : dict
            Keyword arguments of the split evaluation.

        Returns
        -------
        list of (HypergradientResult, FoldState)
            Result and new state of each split.
        """
        tasks = [(fold, state, log_alpha, eps, options)
                 for fold, state in zip(self.folds, states)]
        if self.parallel is None:
            return [self.evaluate_fold(*task) for task in tasks]
        return self.parallel(delayed(self.evaluate_fold)(*task) for task in tasks)


@dataclasses.dataclass(frozen=True)
class StateFile:
    """Handle of a split's state stored in a runner's folder.

    The file is removed when the handle is garbage collected, or with the
    folder when the runner closes.

    Attributes
    ----------
    path : str
        Pickle file of the state.
    """

    path: str

    def __post_init__(self):
        weakref.finalize(self, _remove, self.path)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _temp_root():
    """RAM-backed ``/dev/shm`` when usable, else the system's temporary folder."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    return tempfile.gettempdir()


class FolderRunner(_RemoteRunner):
    """Process workers on this machine, sharing a temporary folder.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits, written to the folder once.
    evaluate_fold : callable
        Evaluation of one split (see :func:`make_runner`).
    parallel : joblib.Parallel
        Entered ``Parallel`` whose workers run the splits.
    stack : contextlib.ExitStack
        What :meth:`close` exits; the folder's removal is added to it.
    """

    def __init__(self, folds, evaluate_fold, parallel, stack):
        folder = tempfile.mkdtemp(prefix="hoag_shine_", dir=_temp_root())
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        super().__init__(folds, evaluate_fold, stack)
        self.parallel = parallel
        self.folder = folder
        self.fold_paths = []
        for i, fold in enumerate(folds):
            path = os.path.join(folder, f"fold-{i}.pkl")
            joblib.dump(fold, path)
            self.fold_paths.append(path)

    @staticmethod
    def fetch(states):
        """The states themselves, read from their files where they are handles.

        Parameters
        ----------
        states : list of FoldState or StateFile
            States or handles.

        Returns
        -------
        list of FoldState
            The states.
        """
        return [_read_state(state) for state in states]

    def lighten_handles(self, states):
        """Each state file replaced by the file of its memory-free state."""
        return [StateFile(_write_state(_without_memory(_read_state(s)), self.folder))
                if isinstance(s, StateFile) else s for s in states]

    def _stored(self, state):
        """A handle for a state with a memory that the parent holds, else the state."""
        if isinstance(state, StateFile) or state.memory is None:
            return state
        return StateFile(_write_state(state, self.folder))

    def remote(self, log_alpha, eps, states, options):
        """Evaluate every split on the workers from its state.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths.
        eps : float
            Relative tolerance.
        states : list of FoldState or StateFile
            One per split (the files are only read).
        options : dict
            Keyword arguments of the split evaluation.

        Returns
        -------
        list of (HypergradientResult, StateFile)
            Slimmed result and handle of the new state of each split.
        """
        stored = [self._stored(state) for state in states]  # alive until the tasks end
        out = self.parallel(
            delayed(_evaluate_stored)(self.evaluate_fold, path, state, log_alpha, eps,
                                      options, self.folder)
            for path, state in zip(self.fold_paths, stored))
        return [(result, StateFile(path)) for result, path in out]


def _write_state(state, folder):
    """Pickle ``state`` to a new file of ``folder``; return the file's path."""
    path = os.path.join(folder, f"state-{uuid.uuid4().hex}.pkl")
    # plain pickle: a state is read whole, and joblib's per-array
    # bookkeeping costs more than the L-BFGS pairs of a small problem
    with open(path, "wb") as file:
        pickle.dump(state, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_state(state):
    """A state, read from its file when it is a :class:`StateFile`."""
    if isinstance(state, StateFile):
        with open(state.path, "rb") as file:
            return pickle.load(file)
    return state


def _evaluate_stored(evaluate_fold, fold_path, state, log_alpha, eps, options, folder):
    """Worker side of :class:`FolderRunner`: read, evaluate, store the new state."""
    fold = joblib.load(fold_path, mmap_mode="r")
    result, new_state = evaluate_fold(fold, _read_state(state), log_alpha, eps, options)
    return slim(result), _write_state(new_state, folder)


class DaskRunner(_RemoteRunner):
    """Splits scattered to a Dask cluster, states kept there as futures.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits, scattered once.
    evaluate_fold : callable
        Evaluation of one split (see :func:`make_runner`).
    client : distributed.Client
        Client of the scheduler joblib's Dask backend uses.
    """

    def __init__(self, folds, evaluate_fold, client):
        self.client = client
        self.fold_futures = client.scatter(list(folds), hash=False)
        self._issued = weakref.WeakValueDictionary()
        stack = ExitStack()
        stack.callback(_release, self.fold_futures, self._issued)
        super().__init__(folds, evaluate_fold, stack)

    def fetch(self, states):
        """The states themselves, gathered in one call where they are futures.

        Parameters
        ----------
        states : list of FoldState or distributed.Future
            States or futures.

        Returns
        -------
        list of FoldState
            The states.
        """
        return self.client.gather(list(states))

    def lighten_handles(self, states):
        """Each state future replaced by the future of its memory-free state (on its worker)."""
        from distributed import Future

        light = []
        for state in states:
            if not isinstance(state, Future):
                light.append(state)
                continue
            future = self.client.submit(_without_memory, state, pure=False)
            self._issued[future.key] = future
            light.append(future)
        return light

    def remote(self, log_alpha, eps, states, options):
        """Evaluate every split where its data and state are.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            Strengths.
        eps : float
            Relative tolerance.
        states : list of FoldState or distributed.Future
            One per split (the futures are only read).
        options : dict
            Keyword arguments of the split evaluation.

        Returns
        -------
        list of (HypergradientResult, distributed.Future)
            Slimmed result and future of the new state of each split.
        """
        submit = self.client.submit
        pairs = [submit(self.evaluate_fold, fold, state, log_alpha, eps, options, pure=False)
                 for fold, state in zip(self.fold_futures, states)]
        lights = [submit(_slim_first, pair, pure=False) for pair in pairs]
        new_states = [submit(_second, pair, pure=False) for pair in pairs]
        for future in new_states:
            self._issued[future.key] = future
        results = self.client.gather(lights)
        return list(zip(results, new_states))


def _slim_first(pair):
    return slim(pair[0])


def _second(pair):
    return pair[1]


def _release(fold_futures, issued):
    """Release the scattered splits and every state future still referenced."""
    for future in list(fold_futures) + list(issued.values()):
        future.release()


def payload_nbytes(obj):
    """Size in bytes of ``obj`` pickled as joblib ships it to a worker.

    Parameters
    ----------
    obj : object
        Anything picklable.

    Returns
    -------
    int
        Length of its pickle (protocol 5).
    """
    return len(pickle.dumps(obj, protocol=5))

