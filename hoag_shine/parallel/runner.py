"""Where the splits of a held-out criterion are evaluated, and what travels.

One rule, from what the user asked for: when joblib's effective number of
workers for ``n_jobs`` (or for the active :func:`joblib.parallel_config`
when it is None) is more than one, every evaluation of the fit runs on that
backend, whatever the problem's size (:class:`BackendRunner`); otherwise the
splits run in turn in the calling process (:class:`SequentialRunner`). No
clock is read. The workers are set up at the first evaluation, according to
where a probe task of the backend runs, and kept for the whole fit:

* :class:`JoblibWorkers` -- joblib's threads, or processes: each task gets
  its split as an argument, so that joblib's own memory mapping applies to
  its arrays (``max_nbytes``, ``mmap_mode``, ``temp_folder`` of the active
  configuration). The parent holds the states
  (:class:`~hoag_shine.outer.criterion.FoldState` objects) for threads and for
  processes on another host (e.g. Ray's, which then get the states with
  every task); process workers on this machine (loky, multiprocessing)
  write each new state to a temporary folder and return the file's path.
* :class:`DaskWorkers` -- Dask's distributed scheduler: the splits are
  scattered once; each state stays on the worker that computed it as a
  future, and the next task of that split is scheduled where its state and
  data are.

Results from the workers lack the L-BFGS memory and inverse-Hessian
operator (:func:`slim`), which stay with the states. Handles in place of
states (files, futures) keep their state alive while referenced;
:meth:`BackendRunner.close` releases them with the workers and the data.
"""
import copy
import dataclasses
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

from joblib import Parallel, delayed, effective_n_jobs
from scipy.optimize import OptimizeResult

#: entries of the inner solver's result that stay on the worker: the L-BFGS
#: memory and the inverse-Hessian operator built on it (O(m n_coef) bytes)
HEAVY_INNER_FIELDS = ("memory", "inverse_hessian")
#: seconds a lost worker may take to leave the scheduler's list after the
#: error it caused reached this process
LEFT_WORKER_WAIT = 5.0
#: RAM-backed folder of the state files, when it has room for them
SHARED_MEMORY_FOLDER = "/dev/shm"
#: states of one split that may be alive at once (the accepted point, the
#: trial, the candidate answers the outer loop keeps)
LIVE_STATES_PER_SPLIT = 4


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


def make_runner(folds, n_jobs, evaluate_fold, state_nbytes=0):
    """Runner for ``folds`` under ``n_jobs`` and the active joblib configuration.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits.
    n_jobs : int or None
        joblib's ``n_jobs`` (None defers to the active ``parallel_config``).
    evaluate_fold : callable
        ``evaluate_fold(fold, state, log_alpha, eps, options) -> (result,
        new_state)``, a module-level function.
    state_nbytes : int, default=0
        Expected size of one split's state (sizes the state files' folder).

    Returns
    -------
    SequentialRunner or BackendRunner
        A :class:`BackendRunner` when joblib's effective number of workers
        is more than one, else a :class:`SequentialRunner`.
    """
    if effective_n_jobs(n_jobs) > 1:
        return BackendRunner(folds, evaluate_fold, n_jobs, state_nbytes)
    return SequentialRunner(folds, evaluate_fold)


def start_workers(folds, evaluate_fold, n_jobs, state_nbytes=0):
    """Workers of the active joblib backend, chosen from where a probe task runs.

    Parameters
    ----------
    folds, evaluate_fold, n_jobs, state_nbytes
        As for :func:`make_runner`.

    Returns
    -------
    JoblibWorkers or DaskWorkers
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
        folder = None
        if pid != os.getpid() and host == socket.gethostname():
            folder = _state_folder(LIVE_STATES_PER_SPLIT * len(folds) * state_nbytes)
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
        return JoblibWorkers(folds, evaluate_fold, parallel, stack, folder)
    except BaseException:
        stack.close()
        raise


def slim(result):
    """A copy of a split's result whose ``inner`` lacks ``HEAVY_INNER_FIELDS``.

    Every other field is the same object.
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


class SequentialRunner:
    """Evaluates the splits one after another in the calling process.

    Parameters
    ----------
    folds, evaluate_fold
        As for :func:`make_runner`.
    """

    def __init__(self, folds, evaluate_fold):
        self.folds = folds
        self.evaluate_fold = evaluate_fold

    def close(self):
        """Nothing to release."""

    @staticmethod
    def lighten(states):
        """The states without their L-BFGS memories."""
        return [_without_memory(s) for s in states]

    def evaluate(self, log_alpha, eps, states, options):
        """Evaluate every split from its state; see :meth:`BackendRunner.evaluate`.

        The results are complete (the L-BFGS memory included).
        """
        return [self.evaluate_fold(fold, state, log_alpha, eps, options)
                for fold, state in zip(self.folds, states)]


class BackendRunner:
    """Evaluates the splits of one fit on the active joblib backend's workers.

    The workers (:func:`start_workers`) are set up at the first evaluation.

    Parameters
    ----------
    folds, evaluate_fold, n_jobs, state_nbytes
        As for :func:`make_runner` (``n_jobs=None`` defers to the
        ``parallel_config`` active when the workers are set up).

    Attributes
    ----------
    workers : JoblibWorkers, DaskWorkers or None
        The workers, once set up.
    """

    def __init__(self, folds, evaluate_fold, n_jobs, state_nbytes=0):
        self.folds = folds
        self.evaluate_fold = evaluate_fold
        self.n_jobs = n_jobs
        self.state_nbytes = state_nbytes
        self.workers = None

    def close(self):
        """Release the workers, the shipped data and every live state (once)."""
        workers, self.workers = self.workers, None
        if workers is not None:
            workers.close()

    def lighten(self, states):
        """The states without their L-BFGS memories, where they are kept.

        States held by the parent lose their memory; handles are replaced
        by handles of the memory-free states.
        """
        if self.workers is None:
            return [_without_memory(s) for s in states]
        return self.workers.lighten(states)

    def evaluate(self, log_alpha, eps, states, options):
        """Evaluate every split from its state on the workers.

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
            Slimmed result (see :func:`slim`) and new state of each split.
        """
        if self.workers is None:
            self.workers = start_workers(self.folds, self.evaluate_fold, self.n_jobs,
                                         self.state_nbytes)
        return self.workers.remote(log_alpha, eps, states, options)


class _Workers:
    """Common lifetime of the workers: an exit stack closed once."""

    def __init__(self, folds, evaluate_fold, stack):
        self.folds = folds
        self.evaluate_fold = evaluate_fold
        self._close = weakref.finalize(self, stack.close)

    def close(self):
        """Release the workers, the shipped data and every live state."""
        self._close()


class JoblibWorkers(_Workers):
    """joblib's workers, each task given its split; the states in the parent or a folder.

    The splits are task arguments: threads copy nothing; process backends
    memory-map their large arrays as joblib's configuration says. Without a
    ``folder`` (threads, processes on another host) the parent holds the
    states; with one, each task writes its new state there.

    Parameters
    ----------
    folds : list of (InnerProblem, LinearLoss)
        The splits.
    evaluate_fold : callable
        Evaluation of one split (see :func:`make_runner`).
    parallel : joblib.Parallel
        Entered ``Parallel`` whose workers run the splits.
    stack : contextlib.ExitStack
        What :meth:`close` exits (the folder's removal included).
    folder : str, optional
        Folder of the state files.
    """

    def __init__(self, folds, evaluate_fold, parallel, stack, folder=None):
        super().__init__(folds, evaluate_fold, stack)
        self.parallel = parallel
        self.folder = folder

    def lighten(self, states):
        """Each state without its memory; a state file replaced by a file of that state."""
        return [StateFile(_write_state(_without_memory(_read_state(s)), self.folder))
                if isinstance(s, StateFile) else _without_memory(s) for s in states]

    def _stored(self, state):
        """A handle for a state with a memory that the parent holds, else the state."""
        if self.folder is None or isinstance(state, StateFile) or state.memory is None:
            return state
        return StateFile(_write_state(state, self.folder))

    def remote(self, log_alpha, eps, states, options):
        """Evaluate every split from its state; see :meth:`BackendRunner.evaluate`.

        ``states`` are FoldState objects or :class:`StateFile` handles (only
        read); the new states are of the same kind as the workers keep.
        """
        stored = [self._stored(state) for state in states]  # alive until the tasks end
        out = self.parallel(
            delayed(_evaluate_stored)(self.evaluate_fold, fold, state, log_alpha, eps,
                                      options, self.folder)
            for fold, state in zip(self.folds, stored))
        if self.folder is None:
            return out
        return [(result, StateFile(path)) for result, path in out]


@dataclasses.dataclass(frozen=True)
class StateFile:
    """Handle of a split's state stored in the folder of :class:`JoblibWorkers`.

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


def _state_folder(nbytes):
    """A new folder for the state files, in RAM when it has room for ``nbytes``.

    ``/dev/shm`` is used when it is writable and its free space is at least
    twice ``nbytes`` (a container's default 64 MB would not hold the states
    of a large problem), else the system's temporary folder.
    """
    root = tempfile.gettempdir()
    try:
        free = shutil.disk_usage(SHARED_MEMORY_FOLDER).free
    except OSError:
        free = 0
    if free >= 2 * nbytes and os.access(SHARED_MEMORY_FOLDER, os.W_OK):
        root = SHARED_MEMORY_FOLDER
    return tempfile.mkdtemp(prefix="hoag_shine_", dir=root)


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


def _evaluate_stored(evaluate_fold, fold, state, log_alpha, eps, options, folder):
    """Worker side of :class:`JoblibWorkers`: evaluate, store the new state if a folder."""
    result, new_state = evaluate_fold(fold, _read_state(state), log_alpha, eps, options)
    return slim(result), (new_state if folder is None else _write_state(new_state, folder))


class DaskWorkers(_Workers):
    """Splits scattered to a Dask cluster, states kept there as futures.

    Each split is scattered once and copied where it landed: arrays taken
    out of a received message are not always aligned as numpy allocates
    them, and numpy's and BLAS's kernels then round differently (1e-8 from
    the sequential fit) and run slower. A split's tasks are asked to run on
    the worker holding it, where its state stays (elsewhere if that worker
    retires, handing its data over). A worker that dies takes the states it
    held: the next call raises :class:`WorkerLostError` naming it. Inside a
    Dask task (a fit in a Dask-backed search), the blocking calls leave the
    worker's thread pool (``secede``/``rejoin``).

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

        The loss surfaces as a cancelled future, a closed connection, a
        scatter to an unknown address (KeyError) or a killed-worker error,
        each checked against the cluster's workers. Any error leaves the
        frames without their locals: kept by the caller, it would otherwise
        keep their futures, and data, on the cluster.
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

    def lighten(self, states):
        """Each state future replaced by the future of its memory-free state (on its worker)."""
        from distributed import Future

        light = [self.client.submit(_without_memory, s, pure=False)
                 if isinstance(s, Future) else _without_memory(s) for s in states]
        self._issued.update((f.key, f) for f in light if isinstance(f, Future))
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
        """Evaluate every split where its data and state are; new states are futures.

        See :meth:`BackendRunner.evaluate`; ``states`` are FoldState objects
        or ``distributed.Future`` objects (only read).
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
    """Size in bytes of ``obj`` pickled as joblib ships it (protocol 5)."""
    return len(pickle.dumps(obj, protocol=5))
