"""Datafits of linear models: a pointwise loss of the linear predictor, summed over samples.

A datafit is split in two parts, as in scikit-learn's ``LinearModelLoss``:

* a *pointwise loss* (:mod:`hoag_shine.model.pointwise`:
  :class:`~hoag_shine.model.pointwise.BinaryLogistic`,
  :class:`~hoag_shine.model.pointwise.MultinomialLogistic`)
  knows, for each sample, its value, its derivative and its curvature in
  terms of the linear predictor ``z_i`` (a number, or one number per class);
  it never sees ``X``; a loss used only on held-out data
  (:class:`~hoag_shine.model.pointwise.ProbabilityPointwise`, a function of
  the predicted probabilities)
  needs no curvature;
* :class:`LinearLoss` is the plumbing around it: it applies ``X`` and
  ``X^T``, handles the intercept, the coefficient layout and the sample
  weights, and offers the datafit protocol the inner problem uses (value
  and gradient, Hessian products, Hessian diagonal).

Coefficient layout. The coefficients of a model with ``K`` outputs (1 for
binary logistic regression, the number of classes for the multinomial one)
and ``p`` features form the matrix ``W`` of shape ``(p + fit_intercept, K)``,
the intercepts in its last row; the solvers see it flattened in C order, a
vector of ``n_coef = (p + fit_intercept) K`` entries (the ``K`` outputs of
feature ``j`` are contiguous, the ``K`` intercepts come last). With ``K = 1``
this is the plain vector ``(coef, intercept)``.
"""
from functools import cached_property

import numpy as np
from scipy import sparse

from .._validation import check_design
from .pointwise import BinaryLogistic, MultinomialLogistic


class LinearLoss:
    """``sum_i s_i l(y_i, z_i)`` for the linear predictor ``z = X W[:p] + W[p]``.

    The design matrix may be a dense ndarray or any scipy.sparse matrix; both
    go through the same ``@`` code path. See the module docstring for the
    layout of the flat coefficient vector.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    pointwise : BinaryLogistic, MultinomialLogistic or ProbabilityPointwise
        The pointwise loss ``l``; it fixes the number of outputs ``K``. A
        :class:`~hoag_shine.model.pointwise.ProbabilityPointwise` offers no
        curvature: the loss then has a value and a gradient only, as an
        outer loss needs.
    fit_intercept : bool, default=False
        If True ``W`` has one more row, the intercepts, stored last.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weight ``s_i`` of each sample's term (1 when None).
        :class:`LogisticLoss` and :class:`MultinomialLoss` drop the samples
        of weight 0 (so that one whose loss overflows cannot turn the sum
        into ``0 * inf``).
    """

    def __init__(self, X, pointwise, fit_intercept=False, sample_weight=None):
        self.X = check_design(X)
        self.pointwise = pointwise
        self.fit_intercept = fit_intercept
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
            if sample_weight.shape != (self.X.shape[0],) or not (
                    np.all(np.isfinite(sample_weight)) and np.all(sample_weight >= 0)):
                raise ValueError(f"sample_weight must hold {self.X.shape[0]} finite "
                                 "non-negative numbers")
            if self.X.shape[0] == 0:
                raise ValueError("sample_weight is zero for every sample")
        self.sample_weight = sample_weight

    @property
    def n_outputs(self):
        """Number of outputs ``K`` of the linear predictor (1 for binary)."""
        return self.pointwise.n_outputs

    @property
    def n_coef(self):
        """Number of entries of the flat coefficient vector."""
        return (self.X.shape[1] + int(self.fit_intercept)) * self.n_outputs

    @property
    def total_weight(self):
        """Sum of the sample weights (the number of samples without weights)."""
        if self.sample_weight is None:
            return float(self.X.shape[0])
        return float(self.sample_weight.sum())

    @cached_property
    def _squared_X(self):
        # a function of X alone, computed at the first Hessian diagonal
        if hasattr(self.X, "multiply"):
            return self.X.multiply(self.X).tocsr()
        return np.square(self.X)

    def _weighted(self, u):
        """``s_i u_i`` along the first axis (``u`` itself without weights)."""
        if self.sample_weight is None:
            return u
        return self.sample_weight.reshape((-1,) + (1,) * (u.ndim - 1)) * u

    # -- the plumbing: X, X^T, intercept, layout ------------------------------

    def matvec(self, v):
        """Linear predictor of ``v``: ``X @ W[:p] + W[p]`` with ``W`` the matrix of ``v``.

        Parameters
        ----------
        v : ndarray of shape (n_coef,) or (n_coef, k)
            Flat coefficient vector, or ``k`` of them as columns.

        Returns
        -------
        ndarray
            Shape ``(n_samples,)`` or ``(n_samples, k)`` with one output;
            ``(n_samples, K)`` or ``(n_samples, K, k)`` with ``K`` outputs.
        """
        K = self.n_outputs
        if K == 1:
            if self.fit_intercept:
                return np.asarray(self.X @ v[:-1]) + v[-1]
            return np.asarray(self.X @ v)
        rows = self.X.shape[1] + int(self.fit_intercept)
        W = v.reshape(rows, -1)  # (p [+ 1], K) or (p [+ 1], K k)
        if self.fit_intercept:
            z = np.asarray(self.X @ W[:-1]) + W[-1]
        else:
            z = np.asarray(self.X @ W)
        return z if v.ndim == 1 else z.reshape(z.shape[0], K, -1)

    def rmatvec(self, u):
        """Adjoint of :meth:`matvec`: ``X^T u``, with the sums of ``u`` for the intercepts.

        Parameters
        ----------
        u : ndarray
            In predictor space: shape ``(n_samples,)`` or ``(n_samples, k)``
            with one output, ``(n_samples, K)`` or ``(n_samples, K, k)`` with
            ``K`` outputs.

        Returns
        -------
        ndarray of shape (n_coef,) or (n_coef, k)
            Flat coefficient vector(s).
        """
        K = self.n_outputs
        if K == 1:
            xtu = np.asarray(self.X.T @ u)
            if self.fit_intercept:
                return np.concatenate([xtu, u.sum(axis=0, keepdims=True)])
            return xtu
        columns = u.reshape(u.shape[0], -1)  # (n, K) or (n, K k)
        xtu = np.asarray(self.X.T @ columns)
        if self.fit_intercept:
            xtu = np.vstack([xtu, columns.sum(axis=0, keepdims=True)])
        return xtu.reshape(-1) if u.ndim == 2 else xtu.reshape(-1, u.shape[2])

    def split_coef(self, w):
        """Coefficients and intercept of ``w`` in scikit-learn's layout.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Flat coefficient vector.

        Returns
        -------
        coef : ndarray
            Shape ``(n_features,)`` with one output, ``(K, n_features)``
            with ``K``.
        intercept : float or ndarray of shape (K,)
            The intercept (0 when not fitted) with one output, the ``K``
            intercepts otherwise.
        """
        K, p = self.n_outputs, self.X.shape[1]
        if K == 1:
            return w[:p], (float(w[p]) if self.fit_intercept else 0.0)
        W = w.reshape(-1, K)
        return W[:p].T, (W[p].copy() if self.fit_intercept else np.zeros(K))

    def intercept_metric(self):
        """Diagonal metric that puts the intercepts on the scale of the features, or None.

        The intercepts multiply a column of ones, the coefficients the
        columns of ``X``: multiply ``X`` by ``s`` (and the strengths by
        ``s^2``) and the coefficients' curvature grows by ``s^2`` while the
        intercepts' stays, so that a solver measuring both in one unit
        (``gamma I``, a Euclidean gradient norm) behaves differently on the
        same problem. In the variables ``w' = w / m^(1/2)`` the intercepts
        multiply a column of value ``c``, ``c^2`` the largest mean squared
        column of ``X`` (weighted by the sample weights: the column of ones
        is taken on the scale of the largest feature), which scales with
        ``X``; with standardised features ``c = 1``.

        Returns
        -------
        ndarray of shape (n_coef,) or None
            ``m``: 1 on the coefficients, ``c^2`` on the intercepts; None
            without intercepts, or when ``X`` is zero.
        """
        if not (self.fit_intercept and self.X.shape[1]):
            return None
        weights = np.ones(self.X.shape[0]) if self.sample_weight is None \
            else self.sample_weight
        c2 = float(_column_squares(self.X, weights).max()) / self.total_weight
        if not (np.isfinite(c2) and c2 > 0):
            return None
        metric = np.ones(self.n_coef)
        metric[-self.n_outputs:] = c2
        return metric

    def intercept_shift(self):
        """Unit direction of ``w`` along which the loss is constant, or None.

        With a shift-invariant pointwise loss (multinomial) and fitted
        intercepts, adding the same constant to the ``K`` intercepts leaves
        every ``z_i`` unchanged up to that shift, hence the loss too.

        Returns
        -------
        ndarray of shape (n_coef,) or None
            ``1 / sqrt(K)`` on the ``K`` intercept entries, 0 elsewhere; None
            when there is no such direction.
        """
        K = self.n_outputs
        if not (self.fit_intercept and self.pointwise.shift_invariant and K > 1):
            return None
        u = np.zeros(self.n_coef)
        u[-K:] = 1.0 / np.sqrt(K)
        return u

    # -- the datafit protocol ----------------------------------------------------

    def value(self, w):
        """Loss at ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Flat coefficient vector.

        Returns
        -------
        float
            ``sum_i s_i l(y_i, z_i)``.
        """
        loss = self.pointwise.loss(self.matvec(w))
        return loss.sum() if self.sample_weight is None else np.dot(self.sample_weight, loss)

    def value_and_gradient(self, w):
        """Loss and its gradient at ``w``, sharing the predictor computation.

        A trial point far out along a search direction may overflow the
        predictor: the value is then inf and the line search shortens the
        step.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Flat coefficient vector.

        Returns
        -------
        value : float
            The loss.
        gradient : ndarray of shape (n_coef,)
            Its gradient with respect to ``w``.
        """
        loss, derivative = self.pointwise.loss_gradient(self.matvec(w))
        if self.sample_weight is None:
            return loss.sum(), self.rmatvec(derivative)
        return np.dot(self.sample_weight, loss), self.rmatvec(self._weighted(derivative))

    def gradient(self, w):
        """Gradient of the loss at ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Flat coefficient vector.

        Returns
        -------
        ndarray of shape (n_coef,)
            Gradient with respect to ``w``.
        """
        return self.value_and_gradient(w)[1]

    def curvature(self, w):
        """Per-sample curvature at ``w`` (sample weights included).

        It is what :meth:`hessian_matvec` and :meth:`hessian_diagonal` take:
        the weights ``s_i sigma(z_i)(1 - sigma(z_i))`` for binary logistic,
        the probabilities ``softmax(z_i)`` and the weights for multinomial.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Point at which the Hessian is taken.

        Returns
        -------
        object
            Opaque to the callers; passed back to the two methods above.
        """
        c = self.pointwise.curvature(self.matvec(w))
        if self.n_outputs == 1:
            return self._weighted(c)  # the weights fold into the curvature
        return c

    def hessian_matvec(self, curvature, v):
        """Apply the Hessian of the loss (intercepts included) to ``v``.

        Parameters
        ----------
        curvature : object
            As returned by :meth:`curvature`.
        v : ndarray of shape (n_coef,) or (n_coef, k)
            Vector, or matrix whose columns are vectors.

        Returns
        -------
        ndarray of the same shape as ``v``
            ``X~^T (d^2 l) X~ v``, ``X~`` the design with its intercept column.
        """
        product = self.pointwise.curvature_product(curvature, self.matvec(v))
        if self.n_outputs > 1:
            product = self._weighted(product)
        return self.rmatvec(product)

    def hessian_diagonal(self, curvature, keep_squares=True):
        """Diagonal of the Hessian of the loss (intercepts included).

        One product of the elementwise square of ``X`` with the diagonal
        curvature: the cost of one gradient.

        Parameters
        ----------
        curvature : object
            As returned by :meth:`curvature`.
        keep_squares : bool, default=True
            Keep the elementwise square of ``X`` for the next diagonals;
            False computes it for this call only (unless already kept).

        Returns
        -------
        ndarray of shape (n_coef,)
            ``sum_i s_i X_ij^2 d_ik`` for coefficient ``(j, k)``, and
            ``sum_i s_i d_ik`` for intercept ``k``, ``d_ik`` the diagonal of
            sample ``i``'s curvature.
        """
        d = self.pointwise.curvature_diagonal(curvature)
        if self.n_outputs > 1:
            d = self._weighted(d)
        if keep_squares or "_squared_X" in vars(self):
            squares = self._squared_X
        else:
            squares = self.X.multiply(self.X) if hasattr(self.X, "multiply") else np.square(self.X)
        diag = np.asarray(squares.T @ d)
        if self.fit_intercept:
            diag = np.concatenate([diag, d.sum(axis=0, keepdims=True)])
        return diag.ravel()


def _column_squares(X, weights):
    """``sum_i weights_i X_ij^2`` of every column (a temporary squared copy when sparse)."""
    if not sparse.issparse(X):
        return np.einsum("ij,ij,i->j", X, X, weights)
    # multiply sums duplicate entries first, as X's own products do
    return np.asarray(X.multiply(X).T @ weights).ravel()


def _drop_zero_weights(X, y, sample_weight):
    """``X``, ``y`` and the weights without the samples of weight 0."""
    if sample_weight is None:
        return X, y, None
    sample_weight = np.asarray(sample_weight, dtype=float)
    keep = sample_weight != 0  # NaN kept: LinearLoss refuses it
    if keep.all() or sample_weight.shape != (np.shape(y)[0],):
        return X, y, sample_weight
    return X[np.flatnonzero(keep)], np.asarray(y)[keep], sample_weight[keep]


class LogisticLoss(LinearLoss):
    """Summed binary logistic loss ``sum_i s_i log(1 + exp(-y_i z_i))``.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    fit_intercept : bool, default=False
        If True the coefficient vector has one more entry, the intercept,
        stored last.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weight of each sample (1 when None).

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.model.datafit import LogisticLoss
    >>> loss = LogisticLoss(np.eye(2), np.array([1.0, -1.0]))
    >>> float(loss.value(np.zeros(2)))  # 2 * log(2)
    1.3862943611198906
    """

    def __init__(self, X, y, fit_intercept=False, sample_weight=None):
        X, y, sample_weight = _drop_zero_weights(X, y, sample_weight)
        super().__init__(X, BinaryLogistic(y), fit_intercept, sample_weight)

    @property
    def y(self):
        """Labels in {-1, +1}."""
        return self.pointwise.y

    def margins(self, w):
        """Return the signed margins ``y * (X @ coef + intercept)``.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when fitted.

        Returns
        -------
        ndarray of shape (n_samples,)
            Margin ``y_i z_i`` of each sample.
        """
        return self.y * self.matvec(w)

    def hessian_weights(self, w):
        """Diagonal weights ``d = s sigma(z) (1 - sigma(z))`` of the Hessian.

        Parameters
        ----------
        w : ndarray of shape (n_coef,)
            Coefficient vector, intercept last when fitted.

        Returns
        -------
        ndarray of shape (n_samples,)
            Weight of each sample, so that the Hessian of the loss is
            ``X^T diag(d) X`` (intercept column included).
        """
        return self.curvature(w)


class MultinomialLoss(LinearLoss):
    """Summed multinomial logistic loss ``sum_i s_i (logsumexp(z_i) - z_{i, y_i})``.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of int, shape (n_samples,)
        Class index of each sample, in ``0 .. n_classes - 1``.
    n_classes : int, optional
        Number of classes (default ``y.max() + 1``); at least 2.
    fit_intercept : bool, default=False
        Fit one intercept per class (the last row of ``W``).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weight of each sample (1 when None).

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.model.datafit import MultinomialLoss
    >>> loss = MultinomialLoss(np.eye(3), np.array([0, 1, 2]))
    >>> loss.n_coef  # 3 features x 3 classes
    9
    >>> round(float(loss.value(np.zeros(9))), 6)  # 3 * log(3)
    3.295837
    """

    def __init__(self, X, y, n_classes=None, fit_intercept=False, sample_weight=None):
        labels = np.asarray(y)
        y = labels.astype(np.intp)
        if labels.ndim != 1 or labels.shape[0] != X.shape[0] or not np.array_equal(y, labels):
            raise ValueError(f"y must be a vector of {X.shape[0]} integer class indices, "
                             f"got shape {labels.shape}, dtype {labels.dtype}")
        n_classes = int(y.max()) + 1 if n_classes is None else int(n_classes)
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"class indices must lie in [0, {n_classes - 1}], got "
                             f"[{y.min()}, {y.max()}]")
        X, y, sample_weight = _drop_zero_weights(X, y, sample_weight)
        super().__init__(X, MultinomialLogistic(y, n_classes), fit_intercept,
                         sample_weight)

    @property
    def y(self):
        """Class index of each sample."""
        return self.pointwise.y


def make_datafit(X, y, n_classes=None, fit_intercept=False, sample_weight=None):
    """The logistic datafit of labels ``y``: binary for two classes, multinomial beyond.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Design matrix.
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1} when ``n_classes`` is None; class indices in
        ``0 .. n_classes - 1`` otherwise.
    n_classes : int, optional
        Number of classes. Two classes keep the single-vector binary
        formulation (index 1 is the positive class).
    fit_intercept : bool, default=False
        Fit the intercept(s).
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weight of each sample.

    Returns
    -------
    LogisticLoss or MultinomialLoss
        The datafit.
    """
    if n_classes is None:
        return LogisticLoss(X, y, fit_intercept, sample_weight)
    if n_classes == 2:
        return LogisticLoss(X, np.where(np.asarray(y) == 1, 1.0, -1.0), fit_intercept,
                            sample_weight)
    return MultinomialLoss(X, y, n_classes, fit_intercept, sample_weight)
