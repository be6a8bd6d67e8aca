"""The inner problem: summed logistic loss plus the l2 penalty."""
import numpy as np
from scipy.sparse.linalg import LinearOperator

from .datafit import LogisticLoss
from .penalty import L2Penalty


class InnerProblem:
    """``h(w, log_alpha) = logistic(X, y; w) + penalty(w, log_alpha)``.

    Parameters
    ----------
    datafit : LogisticLoss
        Training loss.
    penalty : L2Penalty
        Regularisation; its ``fit_intercept`` must match the datafit's.

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
        self.datafit = datafit
        self.penalty = penalty

    @classmethod
    def from_data(cls, X, y, groups=None, fit_intercept=False):
        """Build the problem from data and (optional) feature groups.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Training design matrix.
        y : ndarray of shape (n_samples,)
            Labels in {-1, +1}.
        groups : None, "per-feature" or ndarray of int, default=None
            None for one shared strength, "per-feature" for one per feature,
            or an array of group indices in ``0 .. n_groups - 1``.
        fit_intercept : bool, default=False
            Whether to fit an unpenalised intercept.

        Returns
        -------
        InnerProblem
            Logistic loss on ``(X, y)`` plus the l2 penalty of the grouping.
        """
        n_features = X.shape[1]
        if groups is None:
            penalty = L2Penalty.scalar(n_features, fit_intercept)
        elif isinstance(groups, str) and groups == "per-feature":
            penalty = L2Penalty.per_feature(n_features, fit_intercept)
        else:
            groups = np.asarray(groups, dtype=np.intp)
            penalty = L2Penalty(groups, groups.max() + 1, fit_intercept)
        return cls(LogisticLoss(X, y, fit_intercept), penalty)

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
            Logistic loss plus penalty at ``w``.
        """
        return self.datafit.value(w) + self.penalty.value(w, log_alpha)

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

        def fun(w):
            f, g = self.datafit.value_and_gradient(w)
            aw = strengths * w
            return f + 0.5 * np.dot(aw, w), g + aw

        return fun

    def hessian_operator(self, w, log_alpha):
        """Hessian of ``h`` in ``w`` as a symmetric LinearOperator.

        The sample weights ``sigma(z)(1 - sigma(z))`` are computed at the
        first product (methods that never multiply by ``H`` never pay for
        them); each product then costs two passes over ``X``.

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
        cache = {}

        def matmat(V):
            if "weights" not in cache:
                cache["weights"] = self.datafit.hessian_weights(w)
            V = np.asarray(V, dtype=float)
            diag = strengths if V.ndim == 1 else strengths[:, None]
            return self.datafit.hessian_matvec(cache["weights"], V) + diag * V

        n = self.n_coef
        return LinearOperator((n, n), matvec=matmat, rmatvec=matmat,
                              matmat=matmat, dtype=float)

    def hessian_diagonal(self, w, log_alpha):
        """Diagonal of the Hessian of ``h`` in ``w``: ``diag(X^T D X) + alpha``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Point at which the Hessian is taken.
        log_alpha : ndarray of shape (n_hyper,)
            Log-scale strengths.

        Returns
        -------
        ndarray of shape (n_coef,)
            Hessian diagonal (the intercept's entry has no strength).
        """
        weights = self.datafit.hessian_weights(w)
        return self.datafit.hessian_diagonal(weights) + self.penalty.strengths(log_alpha)

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
