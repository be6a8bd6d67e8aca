"""Plot of a HOAG run: the validation score against the strength and against time.

matplotlib is imported only when a figure is drawn, so it stays optional.
"""
import numpy as np
from sklearn.utils.validation import check_is_fitted

#: the x-axes of the strength panel: label for one strength, for several, log scale
X_AXES = {
    "log_alpha": ("log(alpha)", "mean log(alpha)", False),
    "C": ("C = 1 / alpha", "C = 1 / alpha (geometric mean)", True),
}


class HistoryDisplay:
    """Validation score of a HOAG run against the strength and against time.

    The line joins the points that were the run's answer at their time, in
    the order they became it: the start, each step when it was accepted, and
    the re-evaluations of the point the run stood on; it ends at the answer
    the estimator returns (a star, the record flagged ``answer``; in a
    history without that flag, the last point of the line). Rejected or
    doubtful trials are crosses, and re-evaluations of other points (the
    final check of the start, of a candidate that did not win) open circles.
    Build it with :meth:`from_estimator`, or from a history and call
    :meth:`plot`.

    The scores are per held-out sample, in the sign of ``best_score_``
    (minus the mean loss, higher is better), as
    :class:`sklearn.model_selection.ValidationCurveDisplay` draws a
    ``neg_*`` scoring; ``negate_score=True`` draws the loss itself. A
    history of :func:`hoag`, whose records hold no ``score``, is drawn as
    minus its summed outer loss.

    Parameters
    ----------
    history : list of dict
        Records of :attr:`HyperOptimizer.history_` (or of :func:`hoag`'s
        result): ``log_alpha``, ``score`` (else ``outer_loss``), ``time``,
        ``accepted``, ``decision`` and ``answer`` are used. With several
        strengths the x-axis shows the mean of their logarithms.
    name : str, optional
        Legend label of the run.
    loss_name : str, default="held-out loss"
        Name of the loss on the y-axis (:class:`HyperOptimizer` gives its
        scoring's, e.g. "log-loss").

    Attributes
    ----------
    ax_ : matplotlib Axes
        The score against the strength.
    axes_ : ndarray of matplotlib Axes of shape (1,) or (2,)
        The axes drawn on: ``ax_``, then the score against time when two
        were given (or none).
    figure_ : matplotlib Figure
        Figure holding the axes.
    accepted_lines_ : list of matplotlib Line2D
        The path of the answer, one line per axes.
    rejected_markers_ : list of matplotlib Line2D
        The rejected or doubtful trials, one per axes (empty lines when
        none).
    reevaluated_markers_ : list of matplotlib Line2D
        The re-evaluations of points off the path, one per axes.
    answer_markers_ : list of matplotlib Line2D
        The answer, one per axes.

    See Also
    --------
    HyperOptimizer : Its ``history_`` is what is drawn.
    sklearn.model_selection.ValidationCurveDisplay : The score on a grid of
        strengths, which this display can be drawn over.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from hoag_shine import HistoryDisplay, HyperOptimizer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = HyperOptimizer(max_iter=10, random_state=0).fit(scale(X), y)
    >>> fig, ax = plt.subplots()
    >>> display = HistoryDisplay.from_estimator(clf, ax=ax, x="C")
    >>> display.ax_.get_xlabel()
    'C = 1 / alpha'
    """

    def __init__(self, history, *, name=None, loss_name="held-out loss"):
        self.history = history
        self.name = name
        self.loss_name = loss_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, **kwargs):
        """Plot the history of a fitted :class:`HyperOptimizer`.

        With per-feature or grouped strengths tuned after one strength
        (``selection_`` not None), the run whose answer was kept is drawn
        (the runs' losses are on different held-out samples): the one
        strength's, or the many strengths' last run.

        Parameters
        ----------
        estimator : HyperOptimizer
            Fitted estimator.
        ax : matplotlib Axes or array-like of two, optional
            One Axes: the score against the strength only; two: also
            against time; default a new figure with the two panels.
        name : str, optional
            Legend label; default the estimator's method.
        **kwargs
            Keyword arguments of :meth:`plot`.

        Returns
        -------
        HistoryDisplay
            The display, drawn.
        """
        from .model.scoring import get_scoring

        check_is_fitted(estimator, "history_")
        if name is None:
            name = estimator.method if isinstance(estimator.method, str) \
                else type(estimator.method).__name__
        loss_name = get_scoring(estimator.scoring).name
        history = estimator.history_
        if getattr(estimator, "selection_", None) is not None:
            stage = next((r["stage"] for r in history if r["answer"]), history[0]["stage"])
            history = [r for r in history if r["stage"] == stage]
        return cls(history, name=name, loss_name=loss_name).plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, name=None, color=None, x="log_alpha", negate_score=False):
        """Draw the score against the strength, and against time on a second Axes.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of two, optional
            One Axes: the score against the strength only; two: also
            against time; default a new figure with the two panels.
        name : str, optional
            Legend label; overrides the one given at construction.
        color : matplotlib color, optional
            Colour of the run; default the next one of the axes' cycle.
        x : {"log_alpha", "C"}, default="log_alpha"
            The strength axis: ``log(alpha)``, or ``C = 1 / alpha`` on a log
            scale (the axis of a ``ValidationCurveDisplay`` over ``C``).
        negate_score : bool, default=False
            Draw the loss (minus the score), as scikit-learn's displays do
            with this option.

        Returns
        -------
        HistoryDisplay
            ``self``, with the attributes ending in ``_`` set.
        """
        axes = _axes(ax)
        if x not in X_AXES:
            raise ValueError(f"x must be one of {sorted(X_AXES)}, got {x!r}")
        name = self.name if name is None else name
        records = [r for r in self.history if np.isfinite(r["outer_loss"])]
        if not records:
            raise ValueError("the history holds no finite outer loss to plot")
        strength = _strengths(records, x)
        score, label = self._scores(records, negate_score)
        path = _answer_path(records)
        kinds = _kinds(records, path)
        self.accepted_lines_, self.rejected_markers_ = [], []
        self.reevaluated_markers_, self.answer_markers_ = [], []
        for axis, position in zip(axes, (strength, _times(records))):
            self._draw(axis, position, score, path, kinds, name, color)
        self._label(axes, records, x, label)
        self.ax_, self.axes_, self.figure_ = axes[0], axes, axes[0].figure
        return self

    def _scores(self, records, negate_score):
        """The y-values and their axis label."""
        if all("score" in r for r in records):
            score = np.array([float(r["score"]) for r in records])
            what = f"{self.loss_name} per held-out sample"
        else:
            score = -np.array([float(r["outer_loss"]) for r in records])
            what = f"{self.loss_name}, summed"
        if negate_score:
            return -score, what
        return score, f"\N{MINUS SIGN}{what}"

    def _draw(self, axis, position, score, path, kinds, name, color):
        """The path, the trials, the re-evaluations and the answer on one Axes."""
        line, = axis.plot(position[path], score[path], "o-", ms=4, color=color,
                          label=name or "path of the answer")
        color = line.get_color()
        markers = {}
        for kind, marker, size, label in (
                ("rejected", "x", 7, "rejected trials"),
                ("reevaluated", "o", 6, "re-evaluated points")):
            where = kinds == kind
            markers[kind], = axis.plot(
                position[where], score[where], marker, ms=size, color=color,
                mfc="none" if marker == "o" else color, linestyle="none",
                label=f"{name or 'run'}: {label}" if where.any() else "_nolegend_")
        # the star is explained in the legend's title
        star, = axis.plot(position[path[-1:]], score[path[-1:]], "*", ms=12, color=color,
                          linestyle="none", label="_nolegend_")
        self.accepted_lines_.append(line)
        self.rejected_markers_.append(markers["rejected"])
        self.reevaluated_markers_.append(markers["reevaluated"])
        self.answer_markers_.append(star)

    @staticmethod
    def _label(axes, records, x, label):
        one, several, log_scale = X_AXES[x]
        axes[0].set_xlabel(several if np.size(records[0]["log_alpha"]) > 1 else one)
        if log_scale:
            axes[0].set_xscale("log")
        for axis in axes:
            axis.set_ylabel(label)
        if axes.shape[0] == 2:
            axes[1].set_xlabel("time (s)")
        axes[0].legend(fontsize=8, title="star: answer", title_fontsize=8)


def _axes(ax):
    """One or two Axes as an array; a new figure with two when None."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(10.0, 4.0), layout="constrained")
    axes = np.asarray(ax, dtype=object).ravel()
    if axes.shape[0] not in (1, 2):
        raise ValueError(f"ax must be one Axes or two, got {axes.shape[0]}")
    return axes


def _strengths(records, x):
    lam = np.array([float(np.mean(r["log_alpha"])) for r in records])
    return np.exp(-lam) if x == "C" else lam


def _times(records):
    return np.array([float(r["time"]) for r in records])


def _decision(record):
    """The record's decision; a history without them is read from ``accepted``."""
    return record.get("decision", "accept" if record["accepted"] else "reject")


def _answer_path(records):
    """Indices of the records that were the answer at their time, in the order they became it.

    A new point joins at its start or acceptance, a re-evaluation only when
    it is one of the point the path stands on; the answer closes the path
    (where the final checks found that another point won, the path goes
    back to it).
    """
    path = []
    for i, record in enumerate(records):
        decision = _decision(record)
        same = bool(path) and np.array_equal(record["log_alpha"],
                                             records[path[-1]]["log_alpha"])
        if decision in ("start", "accept") or (record["accepted"] and same):
            path.append(i)
    answer = [i for i, r in enumerate(records) if r.get("answer", False)]
    if answer and (not path or path[-1] != answer[0]):
        path.append(answer[0])
    return np.array(path, dtype=int)


def _kinds(records, path):
    """"path", "rejected" or "reevaluated" for each record."""
    kinds = np.array(["reevaluated" if r["accepted"] else "rejected" for r in records],
                     dtype=object)
    kinds[path] = "path"
    return kinds
