"""The inner problem: a linear model's datafit plus the l2 penalty.

:class:`InnerProblem` is the only object the generic layers (the
hypergradient methods, the held-out criterion, the outer loop and the
estimator) ask about the model. Its protocol:

* ``n_coef``, ``n_hyper``: sizes of the flat coefficient vector and of the
  log-scale strengths;
* ``value``, ``value_and_gradient``, ``fun_and_grad``: the objective ``h`` and
  its gradient in ``w``;
* ``hessian_operator``, ``hessian_diagonal``: the Hessian of ``h`` in ``w`` as
  a LinearOperator, and its diagonal;
* ``cross_vjp``: ``(d/dlog_alpha grad_w h)^T q``, the product that turns
  ``q ~ H^{-1} grad g`` into the hypergradient;
* ``strength_shift``: how a change of strengths shifts the Hessian (a
  diagonal), so that an L-BFGS memory can be carried to the new strengths;
* ``split_coef``: the coefficients and intercept(s) of ``w`` in
  scikit-learn's layout.
"""
from functools import cached_property

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .datafit import make_datafit
from .penalty import L2Penalty


class InnerProblem:
    """``h(w, log_alpha) = datafit(w) + penalty(w, log_alpha)``.

    A multinomial datafit with intercepts is constant along a common shift
    of the ``K`` intercepts (the direction ``u`` of
    :meth:`LinearLoss.intercept_shift`), so its minimisers form a line. The
    objective then also holds the term ``c/2 (u^T w)^2`` with ``c`` the
    total sample weight over ``K`` (the curvature of the intercept block
    at ``w = 0``): it selects the minimiser whose intercepts sum to zero
    (the one scikit-learn's solvers reach from zero), does not depend on
    the strengths and vanishes at the solution, and makes the Hessian
    positive definite. Outer losses are constant along ``u`` too, so no
    hypergradient changes.

    Parameters
    ----------
    datafit : LinearLoss
        Training loss (:class:`~hoag_shine.model.datafit.LogisticLoss` or
        :class:`~hoag_shine.model.datafit.MultinomialLoss`).
    penalty : L2Penalty
        Regularisation; its ``fit_intercept`` and ``n_outputs`` must match
        the datafit's.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine import InnerProblem
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> y = np.array([1.0, -1.0, 1.0])
    >>> problem = InnerProblem.from_data(X, y)
    >>> f, g = problem.value_and_gradient(np.zeros(2), np.array([0.0]))
    >>> g.shape
    (2,)
    """

    def __init__(self, datafit, penalty):
        if datafit.fit_intercept != penalty.fit_intercept:
            raise ValueError("datafit and penalty disagree on fit_intercept")
        if datafit.n_outputs != penalty.n_outputs:
            raise ValueError(f"datafit and penalty disagree on the number of outputs "
                             f"({datafit.n_outputs} and {penalty.n_outputs})")
        self.datafit = datafit
        self.penalty = penalty
        self._shift = datafit.intercept_shift()
        self._shift_curvature = datafit.total_weight / datafit.n_outputs

    @classmethod
    def from_data(cls, X, y, groups=None, fit_intercept=False, *, n_classes=None,
                  sample_weight=None):
        """Build the problem from data and (optional) feature groups.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Training design matrix.
        y : ndarray of shape (n_samples,)
            Labels in {-1, +1} (binary) when ``n_classes`` is None, class
            indices in ``0 .. n_classes - 1`` otherwise.
        groups : None, "per-feature" or ndarray of int, default=None
            None for one shared strength, "per-feature" for one per feature,
            or an array of group indices in ``0 .. n_groups - 1``. With
            several classes, the classes' coefficients of a feature share
            its strength.
        fit_intercept : bool, default=False
            Whether to fit unpenalised intercepts.
        n_classes : int, optional
            Number of classes: two give binary logistic regression, more
            the multinomial one (see :func:`~hoag_shine.model.datafit.make_datafit`).
        sample_weight : ndarray of shape (n_samples,), optional
            Non-negative weight of each sample's loss.

        Returns
        -------
        InnerProblem
            Logistic loss on ``(X, y)`` plus the l2 penalty of the grouping.
        """
        datafit = make_datafit(X, y, n_classes, fit_intercept, sample_weight)
        n_features, K = X.shape[1], datafit.n_outputs
        if groups is None:
            penalty = L2Penalty.scalar(n_features, fit_intercept, K)
        elif isinstance(groups, str) and groups == "per-feature":
            penalty = L2Penalty.per_feature(n_features, fit_intercept, K)
        else:
            groups = np.asarray(groups, dtype=np.intp)
            penalty = L2Penalty(groups, groups.max() + 1, fit_intercept, K)
        return cls(datafit, penalty)

    @property
    def n_coef(self):
        """Length of the coefficient vector (intercept included)."""
        return self.datafit.n_coef

    @property
    def n_hyper(self):
        """Number of log-scale strengths."""
        return self.penalty.n_groups

    def value(self, w, log_alpha):
        """Objective value.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when fitted.
        log_alpha : ndarray of shape (n_hyper,)
            Log-scale strengths.

        Returns
        -------
        float
            Datafit plus penalty at ``w``.
        """
        value = self.datafit.value(w) + self.penalty.value(w, log_alpha)
        if self._shift is not None:
            value += 0.5 * self._shift_curvature * np.dot(self._shift, w) ** 2
        return value

    def value_and_gradient(self, w, log_alpha):
        """Objective value and gradient with respect to ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when fitted.
        log_alpha : ndarray of shape (n_hyper,)
            Log-scale strengths.

        Returns
        -------
        value : float
            Logistic loss plus penalty at ``w``.
        gradient : ndarray of shape (n_coef,)
            Gradient of the objective with respect to ``w``.
        """
        return self.fun_and_grad(log_alpha)(w)

    def fun_and_grad(self, log_alpha):
        """The callable ``w -> (value, gradient)`` at fixed strengths, for solvers.

        The per-coefficient strengths are computed once, not at every call.

        Parameters
        ----------
        log_alpha : array-like of shape (n_hyper,)
            Log-scale strengths, fixed for the returned callable.

        Returns
        -------
        callable
            ``w -> (value, gradient)``: the objective and its gradient with
            respect to ``w``, as :func:`minimize_lbfgs` expects.
        """
        strengths = self.penalty.strengths(np.array(log_alpha, dtype=float))
        u, c = self._shift, self._shift_curvature
        # one buffer per callable (one solve): no vector of n_coef is
        # allocated for the penalty at each call; g is the datafit's own
        aw = np.empty_like(strengths)

        def fun(w):
            f, g = self.datafit.value_and_gradient(w)
            np.multiply(strengths, w, out=aw)
            f = f + 0.5 * np.dot(aw, w)
            g += aw
            if u is not None:
                t = np.dot(u, w)
                f = f + 0.5 * c * t * t
                g += (c * t) * u
            return f, g

        return fun

    def hessian_operator(self, w, log_alpha):
        """Hessian of ``h`` in ``w`` as a symmetric LinearOperator.

        The per-sample curvature (``sigma(z)(1 - sigma(z))``, or the class
        probabilities) is computed at the first product (methods that never
        multiply by ``H`` never pay for it); each product then costs two
        passes over ``X``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Point at which the Hessian is taken; it is copied, so later
            changes of ``w`` do not affect the operator.
        log_alpha : ndarray of shape (n_hyper,)
            Log-scale strengths.

        Returns
        -------
        scipy.sparse.linalg.LinearOperator
            Operator of shape ``(n_coef, n_coef)`` applying the Hessian to
            vectors and to matrices whose columns are vectors.
        """
        strengths = self.penalty.strengths(log_alpha)
        w = np.array(w, dtype=float)  # the operator must not follow later changes of w
        u, c = self._shift, self._shift_curvature
        cache = {}

        def matmat(V):
            if "curvature" not in cache:
                cache["curvature"] = self.datafit.curvature(w)
            V = np.asarray(V, dtype=float)
            diag = strengths if V.ndim == 1 else strengths[:, None]
            out = self.datafit.hessian_matvec(cache["curvature"], V) + diag * V
            if u is not None:
                out += c * np.multiply.outer(u, u @ V)
            return out

        n = self.n_coef
        return LinearOperator((n, n), matvec=matmat, rmatvec=matmat,
                              matmat=matmat, dtype=float)

    @cached_property
    def intercept_metric(self):
        """The datafit's :meth:`~hoag_shine.model.datafit.LinearLoss.intercept_metric`.

        1 on the coefficients and ``c^2`` on the intercepts (None without
        intercepts): the metric of the default initial matrix with one
        strength, in which the intercepts are on the scale of the features.
        Read-only.
        """
        metric = self.datafit.intercept_metric()
        if metric is not None:
            metric.flags.writeable = False
        return metric

    def hessian_diagonal(self, w, log_alpha, keep_squares=True):
        """Diagonal of the Hessian of ``h`` in ``w``: ``diag(X^T D X) + alpha`` for binary.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Point at which the Hessian is taken.
        log_alpha : ndarray of shape (n_hyper,)
            Log-scale strengths.

        keep_squares : bool, default=True
            Keep the elementwise square of ``X`` for the next diagonals (see
            :meth:`~hoag_shine.model.datafit.LinearLoss.hessian_diagonal`).

        Returns
        -------
        ndarray of shape (n_coef,)
            Hessian diagonal (the intercept's entry has no strength).
        """
        diag = (self.datafit.hessian_diagonal(self.datafit.curvature(w), keep_squares)
                + self.penalty.strengths(log_alpha))
        if self._shift is not None:
            diag += self._shift_curvature * self._shift ** 2
        return diag

    def cross_vjp(self, w, log_alpha, q):
        """``(d/dlog_alpha grad_w h)^T q``: one entry per strength.

        Only the penalty depends on ``log_alpha``, so this is the penalty's
        :meth:`L2Penalty.cross_vjp`.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when fitted.
        log_alpha : ndarray of shape (n_hyper,)
            Log-scale strengths.
        q : ndarray of shape (n_coef,)
            Vector to multiply, typically ``H^{-1} grad g``.

        Returns
        -------
        ndarray of shape (n_hyper,)
            Cross-derivative product; the hypergradient is its opposite.
        """
        return self.penalty.cross_vjp(w, log_alpha, q)

    def strength_shift(self, log_alpha, previous):
        """Change of the Hessian when the strengths go from ``previous`` to ``log_alpha``.

        The Hessian of ``h`` depends on the strengths only through the
        penalty's diagonal, so the change is that diagonal's, for every
        ``w``; :meth:`LBFGSMemory.shifted` carries a memory across it.

        Parameters
        ----------
        log_alpha : ndarray of shape (n_hyper,)
            New log-scale strengths.
        previous : ndarray of shape (n_hyper,)
            Strengths the memory was built at.

        Returns
        -------
        ndarray of shape (n_coef,)
            ``strengths(log_alpha) - strengths(previous)`` per coefficient.
        """
        return self.penalty.strengths(log_alpha) - self.penalty.strengths(previous)

    def split_coef(self, w):
        """Coefficients and intercept(s) of ``w`` in scikit-learn's layout.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Flat coefficient vector.

        Returns
        -------
        coef : ndarray of shape (n_features,) or (n_classes, n_features)
            Coefficients (binary: one vector).
        intercept : float or ndarray of shape (n_classes,)
            Intercept(s), 0 when not fitted.
        """
        return self.datafit.split_coef(w)
