"""Pointwise losses of a linear predictor: binary and multinomial logistic, and any loss of
the predicted probabilities; :class:`~hoag_shine.model.datafit.LinearLoss` sums them."""
import numpy as np
from scipy.special import expit, logsumexp, softmax


class BinaryLogistic:
    """Pointwise logistic loss ``log(1 + exp(-y z))`` of labels in {-1, +1}.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels in {-1, +1}.
    """

    n_outputs = 1
    #: adding the same constant to every output of a sample changes the loss
    shift_invariant = False

    def __init__(self, y):
        self.y = np.asarray(y, dtype=float)

    def loss(self, z):
        """Loss of each sample; ``logaddexp`` keeps it finite for any ``z``.

        Parameters
        ----------
        z : ndarray of shape (n_samples,)
            Linear predictor.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``log(1 + exp(-y_i z_i))``.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return np.logaddexp(0.0, -self.y * z)

    def loss_gradient(self, z):
        """Loss of each sample and its derivative in ``z``.

        Parameters
        ----------
        z : ndarray of shape (n_samples,)
            Linear predictor.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            Pointwise loss.
        derivative : ndarray of shape (n_samples,)
            ``-y_i sigma(-y_i z_i)``, computed without cancellation.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            margins = self.y * z
            return np.logaddexp(0.0, -margins), -self.y * expit(-margins)

    def curvature(self, z):
        """Second derivative ``sigma(z)(1 - sigma(z))`` of each sample's loss.

        Parameters
        ----------
        z : ndarray of shape (n_samples,)
            Linear predictor.

        Returns
        -------
        ndarray of shape (n_samples,)
            Curvature of each sample.
        """
        return expit(z) * expit(-z)

    def curvature_product(self, curvature, dz):
        """Second derivative of the loss applied to predictor directions ``dz``.

        Parameters
        ----------
        curvature : ndarray of shape (n_samples,)
            As returned by :meth:`curvature` (sample weights included).
        dz : ndarray of shape (n_samples,) or (n_samples, k)
            One direction, or ``k`` directions as columns.

        Returns
        -------
        ndarray of the shape of ``dz``
            ``curvature_i dz_i``.
        """
        return curvature * dz if dz.ndim == 1 else curvature[:, None] * dz

    def curvature_diagonal(self, curvature):
        """Diagonal of each sample's curvature (here the curvature itself).

        Parameters
        ----------
        curvature : ndarray of shape (n_samples,)
            As returned by :meth:`curvature`.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``curvature``.
        """
        return curvature


class MultinomialLogistic:
    """Pointwise multinomial loss ``logsumexp(z_i) - z_{i, y_i}`` over ``K`` classes.

    The loss of a sample does not change when the same constant is added to
    its ``K`` outputs, so that the intercepts of a multinomial model are only
    determined up to a common shift (see :class:`LinearLoss`).

    Parameters
    ----------
    y : ndarray of int, shape (n_samples,)
        Class index of each sample, in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes ``K`` (at least 2).
    """

    shift_invariant = True

    def __init__(self, y, n_classes):
        self.y = np.asarray(y, dtype=np.intp)
        self.n_outputs = int(n_classes)
        self._rows = np.arange(self.y.shape[0])

    def loss(self, z):
        """Loss of each sample.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_classes)
            Linear predictor.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``logsumexp(z_i) - z_{i, y_i}`` (not negative, up to rounding).
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return logsumexp(z, axis=1) - z[self._rows, self.y]

    def loss_gradient(self, z):
        """Loss of each sample and its derivative in ``z``.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_classes)
            Linear predictor.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            Pointwise loss.
        derivative : ndarray of shape (n_samples, n_classes)
            ``softmax(z_i) - e_{y_i}``.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            lse = logsumexp(z, axis=1, keepdims=True)
            derivative = np.exp(z - lse)
            loss = lse[:, 0] - z[self._rows, self.y]
        derivative[self._rows, self.y] -= 1.0
        return loss, derivative

    def curvature(self, z):
        """Class probabilities ``P = softmax(z)``, which fix the per-sample Hessian.

        The Hessian of a sample's loss in ``z_i`` is ``diag(p_i) - p_i p_i^T``.

        Parameters
        ----------
        z : ndarray of shape (n_samples, n_classes)
            Linear predictor.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            ``softmax(z)``, row by row.
        """
        return softmax(z, axis=1)

    def curvature_product(self, curvature, dz):
        """``(diag(p_i) - p_i p_i^T) dz_i`` for every sample.

        Parameters
        ----------
        curvature : ndarray of shape (n_samples, n_classes)
            Probabilities from :meth:`curvature`.
        dz : ndarray of shape (n_samples, n_classes) or (n_samples, n_classes, k)
            One direction in predictor space, or ``k`` of them along the
            last axis.

        Returns
        -------
        ndarray of the shape of ``dz``
            Product of each sample's Hessian with its direction(s).
        """
        p = curvature if dz.ndim == 2 else curvature[:, :, None]
        pdz = p * dz
        return pdz - p * pdz.sum(axis=1, keepdims=True)

    def curvature_diagonal(self, curvature):
        """Diagonal ``p_ik (1 - p_ik)`` of each sample's Hessian.

        Parameters
        ----------
        curvature : ndarray of shape (n_samples, n_classes)
            Probabilities from :meth:`curvature`.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Diagonal entries.
        """
        return curvature * (1.0 - curvature)


class ProbabilityPointwise:
    """Pointwise loss ``f(Y_i, P_i)`` of the predicted probabilities ``P_i`` of ``z_i``.

    The probabilities are those of the logistic model: ``P_i = (1 -
    sigma(z_i), sigma(z_i))`` with one output (two classes), ``softmax(z_i)``
    with ``K``; ``Y_i`` is the one-hot row of the label. The derivative in
    ``z`` is the chain rule through these links, so that any smooth function
    of the probabilities (the Brier score, a user's loss) serves as an outer
    loss. It has no curvature: it is not a training loss.

    Parameters
    ----------
    y : ndarray of int, shape (n_samples,)
        Class index of each sample, in ``0 .. n_classes - 1``.
    n_classes : int
        Number of classes (at least 2).
    loss : callable
        ``loss(Y, P)``, the loss of each sample: an array of shape
        ``(n_samples,)`` from two of shape ``(n_samples, n_classes)``.
    gradient : callable
        ``gradient(Y, P)``, its derivative in ``P``, of shape
        ``(n_samples, n_classes)``.
    """

    def __init__(self, y, n_classes, loss, gradient):
        self.y = np.asarray(y, dtype=np.intp)
        self.n_classes = int(n_classes)
        self.n_outputs = 1 if self.n_classes == 2 else self.n_classes
        #: softmax probabilities do not change when a constant is added to z_i
        self.shift_invariant = self.n_outputs > 1
        self.onehot = np.eye(self.n_classes)[self.y]
        self._loss, self._gradient = loss, gradient

    def probabilities(self, z):
        """Predicted probabilities of each class.

        Parameters
        ----------
        z : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Linear predictor.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows summing to 1, columns in class order.
        """
        if self.n_outputs == 1:
            return np.column_stack([expit(-z), expit(z)])
        return softmax(z, axis=1)

    def loss(self, z):
        """Loss of each sample.

        Parameters
        ----------
        z : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Linear predictor.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``f(Y_i, P_i)``.
        """
        return self._loss(self.onehot, self.probabilities(z))

    def loss_gradient(self, z):
        """Loss of each sample and its derivative in ``z``.

        Parameters
        ----------
        z : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Linear predictor.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            Pointwise loss.
        derivative : ndarray of the shape of ``z``
            ``(G_i1 - G_i0) p_i (1 - p_i)`` with one output and
            ``P_ik (G_ik - P_i . G_i)`` with ``K``, ``G = df/dP``.
        """
        P = self.probabilities(z)
        G = self._gradient(self.onehot, P)
        if self.n_outputs == 1:
            derivative = (G[:, 1] - G[:, 0]) * P[:, 0] * P[:, 1]
        else:
            derivative = P * (G - np.sum(P * G, axis=1, keepdims=True))
        return self._loss(self.onehot, P), derivative
