"""Summed logistic loss, the datafit of the inner and of the outer problem."""
from functools import cached_property

import numpy as np
from scipy.special import expit

from ._validation import check_design


class LogisticLoss:
    """Summed logistic loss ``sum_i log(1 + exp(-y_i z_i))`` of linear margins.

    The loss only sees the linear predictor ``z = X @ coef + intercept``; the
    design matrix may be a dense ndarray or any scipy.sparse matrix, both go
    through the same ``@`` code path.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    fit_intercept : bool, default=False
        If True the coefficient vector has one more entry, the intercept,
        stored last.

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.datafit import LogisticLoss
    >>> loss = LogisticLoss(np.eye(2), np.array([1.0, -1.0]))
    >>> float(loss.value(np.zeros(2)))  # 2 * log(2)
    1.3862943611198906
    """

    def __init__(self, X, y, fit_intercept=False):
        self.X = check_design(X)
        self.y = np.asarray(y, dtype=float)
        self.fit_intercept = fit_intercept

    @cached_property
    def _squared_X(self):
        # a function of X alone, computed at the first Hessian diagonal
        if hasattr(self.X, "multiply"):
            return self.X.multiply(self.X).tocsr()
        return np.square(self.X)

    @property
    def n_coef(self):
        """Number of entries of the coefficient vector."""
        return self.X.shape[1] + int(self.fit_intercept)

    def margins(self, w):
        """Return the signed margins ``y * (X @ coef + intercept)``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, the intercept stored last when
            ``fit_intercept`` is True.

        Returns
        -------
        ndarray of shape (n_samples,)
            Margin ``y_i z_i`` of each sample.
        """
        return self.y * self.matvec(w)

    def matvec(self, v):
        """Linear predictor ``X @ v[:p] + v[p]`` (``v`` may hold columns).

        Parameters
        ----------
        v : ndarray of shape (n_coef,) or (n_coef, k)
            Coefficient vector, or matrix whose columns are coefficient
            vectors; the intercept is the last entry (row) when
            ``fit_intercept`` is True.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, k)
            ``X @ v``, plus the intercept when ``fit_intercept`` is True.
        """
        if self.fit_intercept:
            return np.asarray(self.X @ v[:-1]) + v[-1]
        return np.asarray(self.X @ v)

    def rmatvec(self, u):
        """Adjoint of :meth:`matvec`: ``X^T u``, with ``sum(u)`` appended for the intercept.

        Parameters
        ----------
        u : ndarray of shape (n_samples,) or (n_samples, k)
            Vector, or matrix whose columns are vectors, in sample space.

        Returns
        -------
        ndarray of shape (n_coef,) or (n_coef, k)
            ``X^T u``, with the column sums of ``u`` appended as the last
            entry (row) when ``fit_intercept`` is True.
        """
        xtu = np.asarray(self.X.T @ u)
        if self.fit_intercept:
            return np.concatenate([xtu, u.sum(axis=0, keepdims=True)])
        return xtu

    def value(self, w):
        """Loss at ``w``; ``logaddexp`` keeps it finite for any margin.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.

        Returns
        -------
        float
            Summed logistic loss ``sum_i log(1 + exp(-y_i z_i))``.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return np.logaddexp(0.0, -self.margins(w)).sum()

    def value_and_gradient(self, w):
        """Loss and its gradient at ``w``, sharing the margin computation.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.

        Returns
        -------
        value : float
            Summed logistic loss.
        gradient : ndarray of shape (n_coef,)
            Gradient of the loss with respect to ``w``.
        """
        # a trial point far out along a search direction may overflow the
        # margins: the value is then inf and the line search shortens the step
        with np.errstate(over="ignore", invalid="ignore"):
            z = self.margins(w)
            value = np.logaddexp(0.0, -z).sum()
            # sigma(z) - 1 = -sigma(-z), computed without cancellation
            return value, self.rmatvec(-self.y * expit(-z))

    def gradient(self, w):
        """Gradient of the loss at ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.

        Returns
        -------
        ndarray of shape (n_coef,)
            Gradient of the loss with respect to ``w``.
        """
        return self.value_and_gradient(w)[1]

    def hessian_weights(self, w):
        """Diagonal weights ``d = sigma(z) (1 - sigma(z))`` of the Hessian.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when ``fit_intercept`` is True.

        Returns
        -------
        ndarray of shape (n_samples,)
            Weight of each sample, so that the Hessian of the loss is
            ``X^T diag(d) X`` (intercept column included).
        """
        z = self.margins(w)
        return expit(z) * expit(-z)

    def hessian_matvec(self, weights, v):
        """Apply ``X^T diag(weights) X`` (intercept column included) to ``v``.

        Parameters
        ----------
        weights : ndarray of shape (n_samples,)
            Sample weights, as returned by :meth:`hessian_weights`.
        v : ndarray of shape (n_coef,) or (n_coef, k)
            Vector, or matrix whose columns are vectors.

        Returns
        -------
        ndarray of the same shape as ``v``
            Product of the loss Hessian with ``v``.
        """
        xv = self.matvec(v)
        return self.rmatvec(weights * xv if v.ndim == 1 else weights[:, None] * xv)

    def hessian_diagonal(self, weights):
        """Diagonal of ``X^T diag(weights) X`` (intercept column included).

        One product of the elementwise square of ``X`` with ``weights``: the
        cost of one gradient.

        Parameters
        ----------
        weights : ndarray of shape (n_samples,)
            Second derivative of the pointwise loss in the linear predictor,
            as returned by :meth:`hessian_weights`.

        Returns
        -------
        ndarray of shape (n_coef,)
            ``sum_i weights_i X_ij^2`` for each coefficient ``j``, and
            ``sum_i weights_i`` for the intercept when it is fitted.
        """
        diag = np.asarray(self._squared_X.T @ weights).ravel()
        if self.fit_intercept:
            return np.append(diag, weights.sum())
        return diag
