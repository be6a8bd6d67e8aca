"""Where the splits of a held-out criterion are evaluated, and what travels.

A :class:`SplitRunner` evaluates the splits of one fit. It starts in the
parent's process, one split after another, and hands the splits to workers
only once a round of them takes long enough for the workers to pay
(``REMOTE_MIN_SECONDS``); the workers are then set up once, for the rest of
the fit, according to where a probe task of the active joblib backend runs:

* :class:`ThreadWorkers` -- joblib's threads (or a backend that runs tasks
  on another machine without Dask's scheduler, e.g. Ray's, which then ships
  the splits and the states with every task, as plain joblib does); the
  states are :class:`~hoag_shine.outer.criterion.FoldState` objects the parent
  holds.
* :class:`FolderWorkers` -- process workers on the parent's machine (loky,
  multiprocessing): the splits are written once to a temporary folder and
  memory-mapped by the workers; each task writes its new state there and
  returns its path. The pipes to the workers carry ``O(n_hyper + n_coef)``
  bytes per split and round; the L-BFGS memory goes through the folder
  (RAM-backed ``/dev/shm`` when it exists).
* :class:`DaskWorkers` -- Dask's distributed scheduler: the splits are
  scattered once; each state stays on the worker that computed it as a
  future, and the next task of that split is scheduled where its state and
  data are. Only the slimmed results come back to the parent.

After two rounds on the workers, the parent takes the splits back when the
workers' last round took more than twice the splits' own work (as the
workers measured it), and evaluates them itself, from the same states,
until that takes longer than half that round. The results do not depend on
where a split ran.

Handles returned in place of states (file handles, futures) keep their
state alive while the caller references them; :meth:`SplitRunner.close`
releases every one of them together with the workers and the shipped data.
"""
import copy
import dataclasses
import math
import os
import pickle
import shutil
import socket
import tempfile
import traceback
import uuid
import weakref
from concurrent.futures import CancelledError
from contextlib import ExitStack, contextmanager
from time import perf_counter, sleep

import joblib
from joblib import Parallel, delayed, effective_n_jobs
from scipy.optimize import OptimizeResult

#: entries of the inner solver's result that stay on the worker: the L-BFGS
#: memory and the inverse-Hessian operator built on it (O(m n_coef) bytes)
HEAVY_INNER_FIELDS = ("memory", "inverse_hessian")
#: a round of the splits that took less than this in the parent stays there:
#: a round on two workers costs 30 to 60 ms beyond the splits' own work on
#: an idle 2-core machine (the round trips, through Dask's scheduler or
#: joblib's queues, and the states' copies), and saves at most half of the
#: work, so that lighter rounds gain little or lose
REMOTE_MIN_SECONDS = 0.25
#: the parent takes the splits back from the workers only after a round
#: there took more than this many times the splits' own work: rounds vary in
#: weight along a fit (the tolerance tightens; the final verification is ten
#: times tighter), and a heavy round kept in the parent costs far more than
#: a light one sent to the workers
PARENT_FACTOR = 2.0
#: seconds a lost worker may take to leave the scheduler's list after the
#: error it caused reached this process
LEFT_WORKER_WAIT = 5.0


class WorkerLostError(RuntimeError):
    """A Dask worker holding splits or their states left the cluster with them.

    A worker that leaves gracefully (``Client.retire_workers``, a cluster
    scaling down) hands its data to the others first and the fit goes on
    unchanged. One that dies or is cut off takes the splits' warm-start
    states it held (their L-BFGS memories are nowhere else) and the fit
    stops with this error; the estimator is left as it was before ``fit``,
    which can be called again on the workers that remain.

    Parameters
    ----------
    workers : list of str
        Addresses of the workers that left.

    Attributes
    ----------
    workers : tuple of str
        Addresses of the workers that left.

    Examples
    --------
    >>> from hoag_shine import WorkerLostError
    >>> print(WorkerLostError(["tcp://10.0.0.2:40123"]))
    the Dask worker tcp://10.0.0.2:40123 left the cluster during the fit, and the splits' data and warm-start states it held with it; fit again on the workers that remain
    """

    def __init__(self, workers):
        self.workers = tuple(workers)
        which = (f"worker {self.workers[0]}" if len(self.workers) == 1
                 else "workers " + ", ".join(self.workers))
        super().__init__(f"the Dask {which} left the cluster during the fit, and the "
                         "splits' data and warm-start states it held with it; fit again "
                         "on the workers that remain")


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
    SplitRunner
        Runner that evaluates in the parent only (one split or one worker),
        or that sets workers up when a round is worth it.
    """
    use_workers = len(folds) > 1 and effective_n_jobs(n_jobs) != 1
    return SplitRunner(folds, evaluate_fold, n_jobs, use_workers)


def start_workers(folds, evaluate_fold, n_jobs):
    """Workers of the active joblib backend, chosen from where a probe task runs.

    Parameters
    ----------
    folds, evaluate_fold, n_jobs
        As for :func:`make_runner`.

    Returns
    -------
    ThreadWorkers, FolderWorkers or DaskWorkers
        The workers, set up (split data shipped where they keep it).
    """
    stack = ExitStack()
    try:
        parallel = stack.enter_context(Parallel(n_jobs=n_jobs))
        pid, host, scheduler = parallel([delayed(_where)()])[0]
        if scheduler is not None:
            client = _dask_client(scheduler)
            if client is not None:
                stack.close()
                return DaskWorkers(folds, evaluate_fold, client)
        if pid != os.getpid() and host == socket.gethostname():
            return FolderWorkers(folds, evaluate_fold, parallel, stack)
        return ThreadWorkers(folds, evaluate_fold, parallel, stack)
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


def _without_memory(state):
    """The state without its L-BFGS memory (a state object or one already light)."""
    if getattr(state, "memory", None) is None:
        return state
    return dataclasses.replace(state, memory=None)


class SplitRunner:
    """Evaluates the splits of one fit, in the parent or on workers, where it is faster.

    Rounds run in the parent, one split after another, until one takes at
    least ``REMOTE_MIN_SECONDS``; the workers are then set up
    (:func:`start_workers`) and take the next two rounds. From then on, a
    round runs in the parent when the workers' last round took more than
    ``PARENT_FACTOR`` times the splits' own work (as the workers timed it),
    until a round in the parent takes longer than that round divided by
    ``PARENT_FACTOR``.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits.
    evaluate_fold : callable
        Evaluation of one split (see :func:`make_runner`).
    n_jobs : int or None
        joblib's ``n_jobs`` of the workers (None defers to the
        ``parallel_config`` active when they are set up).
    use_workers : bool
        False: the parent evaluates every round and no worker is ever set
        up (one split, or one worker).

    Attributes
    ----------
    workers : ThreadWorkers, FolderWorkers, DaskWorkers or None
        The workers, once set up.
    rounds_on_workers : int
        Rounds the workers evaluated so far.
    """

    def __init__(self, folds, evaluate_fold, n_jobs, use_workers):
        self.folds = folds
        self.evaluate_fold = evaluate_fold
        self.n_jobs = n_jobs
        self.use_workers = use_workers
        self.workers = None
        self._seconds = {"workers": math.inf, "parent": 0.0}
        self.rounds_on_workers = 0

    def close(self):
        """Release the workers, the shipped data and every live state.

        Calling it again does nothing. Workers that are garbage collected
        without it release what they hold too.
        """
        workers, self.workers = self.workers, None
        if workers is not None:
            workers.close()

    def _in_parent(self):
        if self.workers is None:
            return self._seconds["parent"] < REMOTE_MIN_SECONDS
        # the first round on the workers also pays for loading the splits
        # there: it says nothing about the next ones
        return (self.rounds_on_workers > 1
                and PARENT_FACTOR * self._seconds["parent"] < self._seconds["workers"])

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
            replaced by handles of the memory-free states.
        """
        if self.workers is not None:
            states = self.workers.lighten_handles(states)
        return [_without_memory(s) for s in states]

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
            Result and new state of each split. When the runner may use
            workers, every result lacks its L-BFGS memory (see
            :func:`slim`), wherever it was computed.
        """
        in_parent = not self.use_workers or self._in_parent()
        if not in_parent and self.workers is None:
            self.workers = start_workers(self.folds, self.evaluate_fold, self.n_jobs)
        start = perf_counter()
        if in_parent:
            if self.workers is not None:
                states = self.workers.fetch(states)
            pairs = [self.evaluate_fold(fold, state, log_alpha, eps, options)
                     for fold, state in zip(self.folds, states)]
            self._seconds["parent"] = perf_counter() - start
        else:
            pairs = self.workers.remote(log_alpha, eps, states, options)
            self.rounds_on_workers += 1
            self._seconds["workers"] = perf_counter() - start
            self._seconds["parent"] = sum(r.time_forward + r.time_backward for r, _ in pairs)
        if self.use_workers:
            # the same content whichever way the round went
            pairs = [(slim(result), state) for result, state in pairs]
        return pairs


class _Workers:
    """Common lifetime of the workers: an exit stack closed once."""

    def __init__(self, folds, evaluate_fold, stack):
        self.folds = folds
        self.evaluate_fold = evaluate_fold
        self._close = weakref.finalize(self, stack.close)

    def close(self):
        """Release the workers, the shipped data and every live state."""
        self._close()


class ThreadWorkers(_Workers):
    """joblib's workers given each split and its state with every task.

    Used for the threading backend (nothing is copied: the threads share the
    parent's memory) and for backends that run tasks on another host
    without Dask's scheduler (each task then carries its split and state
    both ways, as a plain ``Parallel`` call would).

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits.
    evaluate_fold : callable
        Evaluation of one split (see :func:`make_runner`).
    parallel : joblib.Parallel
        Entered ``Parallel`` whose workers run the splits.
    stack : contextlib.ExitStack
        What :meth:`close` exits.
    """

    def __init__(self, folds, evaluate_fold, parallel, stack):
        super().__init__(folds, evaluate_fold, stack)
        self.parallel = parallel

    @staticmethod
    def fetch(states):
        """The states themselves (the parent holds them)."""
        return list(states)

    @staticmethod
    def lighten_handles(states):
        """The states themselves (no handle to replace)."""
        return list(states)

    def remote(self, log_alpha, eps, states, options):
        """Evaluate every split on the workers from its state.

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
        return self.parallel(delayed(self.evaluate_fold)(fold, state, log_alpha, eps, options)
                             for fold, state in zip(self.folds, states))


@dataclasses.dataclass(frozen=True)
class StateFile:
    """Handle of a split's state stored in the folder of :class:`FolderWorkers`.

    The file is removed when the handle is garbage collected, or with the
    folder when the workers are closed.

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


class FolderWorkers(_Workers):
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
    """Worker side of :class:`FolderWorkers`: read, evaluate, store the new state."""
    fold = joblib.load(fold_path, mmap_mode="r")
    result, new_state = evaluate_fold(fold, _read_state(state), log_alpha, eps, options)
    return slim(result), _write_state(new_state, folder)


class DaskWorkers(_Workers):
    """Splits scattered to a Dask cluster, states kept there as futures.

    Each split is scattered once and copied where it landed: the arrays of
    scattered data come out of the received message, not always aligned
    as numpy allocates them, and numpy's and BLAS's kernels then round
    differently (results drifted by 1e-8 from the sequential fit's) and
    run slower. A split's tasks are asked to run on the worker that holds
    it, where its state stays; the scheduler runs them elsewhere if that
    worker retires (handing its data over first). A worker that dies or is
    cut off takes the states it held, which exist nowhere else: the next
    call that needs them raises :class:`WorkerLostError` naming it, whatever
    error the loss showed up as. From inside a Dask task (a fit within a Dask-backed
    search), the blocking calls leave the worker's thread pool
    (``secede``/``rejoin``), so that the splits' tasks can run meanwhile.

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
        self._issued = weakref.WeakValueDictionary()
        self.fold_futures = []
        stack = ExitStack()
        stack.callback(_release, self.fold_futures, self._issued)
        super().__init__(folds, evaluate_fold, stack)
        self._workers_seen = set()
        with self._naming_lost_workers():
            scattered = client.scatter(list(folds), hash=False)
            self.fold_futures.extend(client.submit(_own_arrays, fold, pure=False)
                                     for fold in scattered)
            from distributed import wait

            with _outside_worker_slot():
                wait(self.fold_futures)
            # where each copy was made: its split's tasks are sent there
            self.fold_placement = self._fold_holders()

    def _fold_holders(self):
        """``submit`` keywords placing each split's tasks where its data is now."""
        holders = self.client.who_has(self.fold_futures)
        return [_placement(holders.get(fold.key)) for fold in self.fold_futures]

    @contextmanager
    def _naming_lost_workers(self):
        """Errors caused by a worker that left abruptly become one :class:`WorkerLostError`.

        Depending on when the worker left, its loss surfaces as a cancelled
        future (lost dependencies), a closed connection, a scatter to an
        address the scheduler no longer knows (KeyError) or a killed-worker
        error; each is checked against the workers of the cluster. Any error
        leaves the runner's frames without their local variables: the error,
        kept by the caller, would otherwise keep the futures they hold, and
        their data, on the cluster.
        """
        from distributed import KilledWorker

        self._workers_seen.update(self.client.nthreads())
        try:
            yield
        except BaseException as exc:
            traceback.clear_frames(exc.__traceback__)
            lost = isinstance(exc, (CancelledError, OSError, KeyError, KilledWorker))
            left = self._left_workers() if lost else []
            if left:
                raise WorkerLostError(left) from exc
            raise

    def _left_workers(self):
        """Workers seen during the fit that are no longer in the cluster."""
        deadline = perf_counter() + LEFT_WORKER_WAIT
        while True:
            try:
                left = sorted(self._workers_seen - set(self.client.nthreads()))
            except Exception:  # the scheduler is gone too: the first error says more
                return []
            if left or perf_counter() > deadline:
                return left
            sleep(0.1)

    def fetch(self, states):
        """The states themselves, gathered in one call where they are futures.

        Parameters
        ----------
        states : list of FoldState or distributed.Future
            States or futures.

        Returns
        -------
        list of FoldState
            The states (gathered ones copied, for aligned arrays).
        """
        from distributed import Future

        with self._naming_lost_workers(), _outside_worker_slot():
            gathered = self.client.gather(list(states))
        return [_own_arrays(state) if isinstance(handle, Future) else state
                for handle, state in zip(states, gathered)]

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

    def _stored(self, states):
        """Futures of the states, states the parent holds scattered next to their split."""
        from distributed import Future

        if not all(isinstance(state, Future) for state in states):
            # the splits may have moved (a worker retired and handed them over)
            self.fold_placement = self._fold_holders()
        stored = []
        for placement, state in zip(self.fold_placement, states):
            if not isinstance(state, Future):
                # in the task's arguments, a state with its memory would make
                # a large graph; scattered, it is moved once, where it is used
                scattered = self.client.scatter(state, workers=placement.get("workers"),
                                                hash=False)
                state = self.client.submit(_own_arrays, scattered, pure=False, **placement)
                self._issued[state.key] = state
            stored.append(state)
        return stored

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
        with self._naming_lost_workers():
            return self._round(log_alpha, eps, states, options)

    def _round(self, log_alpha, eps, states, options):
        """Submit one round and gather its slimmed results (see :meth:`remote`)."""
        submit = self.client.submit
        stored = self._stored(states)
        pairs = [submit(self.evaluate_fold, fold, state, log_alpha, eps, options,
                        pure=False, **placement)
                 for fold, state, placement in zip(self.fold_futures, stored,
                                                   self.fold_placement)]
        lights = [submit(_slim_first, pair, pure=False) for pair in pairs]
        new_states = [submit(_second, pair, pure=False) for pair in pairs]
        for future in pairs + lights + new_states:
            self._issued[future.key] = future
        try:
            with _outside_worker_slot():
                results = self.client.gather(lights)
        except BaseException:
            # the error, kept by the client with these futures, holds this
            # frame: without its references to them, nothing keeps them alive
            self.client.cancel(pairs + lights + new_states)
            stored = pairs = lights = new_states = None
            raise
        return list(zip(results, new_states))


@contextmanager
def _outside_worker_slot():
    """Inside a Dask task, leave the worker's thread pool while blocking on the cluster."""
    if not _in_dask_task():
        yield
        return
    from distributed import rejoin, secede

    secede()
    try:
        yield
    finally:
        rejoin()


def _in_dask_task():
    """True in a task running on a Dask worker."""
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _placement(workers):
    """``submit`` keywords asking for ``workers`` while allowing others (none if unknown)."""
    if not workers:
        return {}
    return {"workers": list(workers), "allow_other_workers": True}


def _own_arrays(obj):
    """A deep copy of ``obj``: arrays allocated (and aligned) by numpy in this process."""
    return copy.deepcopy(obj)


def _slim_first(pair):
    return slim(pair[0])


def _second(pair):
    return pair[1]


def _release(fold_futures, issued):
    """Release the scattered splits and every future still referenced."""
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

