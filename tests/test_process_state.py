"""A fit leaves the process as it found it, whichever thread runs it.

The state compared: warning filters, numpy's error handling and print
options, scikit-learn's configuration, the environment, the thread pools'
sizes, the interpreter's switch interval and recursion limit, the SIGINT
handler, the working directory and the temporary folders a fit may create.
"""
import os
import signal
import sys
import tempfile
import warnings

import numpy as np
import pytest
import sklearn
from joblib import Parallel, delayed, parallel_config
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info

from hoag_shine import HyperOptimizer, InnerProblem

#: parameters of the concurrent fits: every method family, cross-validation
#: and one split, several strengths, two and three classes, inner workers
FITS = [
    dict(method="shine"),
    dict(method="shine-opa", cv=3),
    dict(method="cg", regularization="per-feature"),
    dict(method="shine-refine", cv=3, n_jobs=2),
    dict(method="jacobian-free", max_iter=3),
    dict(method="shine", tolerance_init=1e-1, inner_max_iter=3),  # the refit warns
    dict(method="shine-pcg", fit_intercept=False),
    dict(method="exact", regularization=[0, 1, 0, 1, 2, 2]),
]


def _process_state():
    """What a library must not change beyond its calls (shared by all threads)."""
    roots = {tempfile.gettempdir(), "/dev/shm"}
    folders = sorted(name for root in roots if os.path.isdir(root)
                     for name in os.listdir(root) if name.startswith("hoag_shine"))
    pools = sorted((pool["internal_api"], pool["filepath"], pool["num_threads"])
                   for pool in threadpool_info())
    return dict(filters=list(warnings.filters), environ=dict(os.environ), pools=pools,
                switch=sys.getswitchinterval(), recursion=sys.getrecursionlimit(),
                sigint=signal.getsignal(signal.SIGINT), cwd=os.getcwd(), folders=folders)


def _thread_state():
    """Settings kept per thread (or per context), read in the calling thread."""
    return dict(errors=np.geterr(), printing=np.get_printoptions(),
                sklearn=sklearn.get_config())


def _data(n_classes):
    return make_classification(120, 6, n_informative=4, n_redundant=0,
                               n_classes=n_classes, random_state=n_classes)


def _fit_in_thread(i, params):
    """Fit, and the thread's own state before and after."""
    X, y = _data(2 + i % 2)
    before = _thread_state()
    clf = HyperOptimizer(random_state=i, **dict(dict(max_iter=8), **params))
    try:
        clf.fit(X, y)
    except Exception as exc:  # pragma: no cover - reported by the assertion
        return before, _thread_state(), exc
    return before, _thread_state(), None


def test_concurrent_fits_leave_the_process_unchanged():
    """Thirty-two fits in joblib's threading backend, as a threaded search runs them."""
    before = _process_state()
    with warnings.catch_warnings():
        # the fits' convergence warnings are expected; the filter is this
        # test's own and is compared inside its scope
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        inside = _process_state()
        with parallel_config(backend="threading", n_jobs=8):
            outcomes = Parallel()(delayed(_fit_in_thread)(i, FITS[i % len(FITS)])
                                  for i in range(32))
        assert _process_state() == inside
    assert _process_state() == before
    for thread_before, thread_after, error in outcomes:
        assert error is None
        assert thread_after == thread_before


@pytest.mark.parametrize("params", FITS, ids=lambda p: "-".join(map(str, p.values())))
def test_no_filter_is_changed_during_a_fit(params, monkeypatch):
    """At every objective evaluation of a fit (its splits and its refit), the warning
    filters are those of the caller: a filter set for a moment, even restored
    after, would apply to every thread of the process meanwhile."""
    changed = []
    original = InnerProblem.fun_and_grad

    def watched(self, log_alpha):
        fun = original(self, log_alpha)

        def checked(w):
            if list(warnings.filters) != expected:
                changed.append(list(warnings.filters))
            return fun(w)

        return checked

    monkeypatch.setattr(InnerProblem, "fun_and_grad", watched)
    X, y = _data(3)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        expected = list(warnings.filters)
        HyperOptimizer(random_state=0, **dict(dict(max_iter=4), **params)).fit(X, y)
    assert changed == []

