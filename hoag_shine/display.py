"""Plot of a HOAG run: the outer loss against log(alpha) and against time.

matplotlib is imported only when a figure is drawn, so it stays optional.
"""
import numpy as np
from sklearn.utils.validation import check_is_fitted


class HistoryDisplay:
    """Outer loss of a HOAG run against log(alpha) and against time.

    Accepted steps are joined by a line in the order of the run, rejected
    steps are drawn as crosses, and the answer (the record flagged
    ``answer``: the best trusted point, which the estimator returns; in a
    history without that flag, the last accepted record) as a star. Build it with :meth:`from_estimator`, or from a history and call
    :meth:`plot`.

    Parameters
    ----------
    history : list of dict
        Records of :attr:`HyperOptimizer.history_` (or of
        :func:`hoag`'s result): ``log_alpha``, ``outer_loss``, ``time`` and
        ``accepted`` are used. With several strengths the x-axis shows the
        mean of their logarithms.
    name : str, optional
        Legend label of the run.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (2,)
        Outer loss against log(alpha), then against time.
    figure_ : matplotlib Figure
        Figure holding the axes.
    accepted_lines_ : list of matplotlib Line2D
        The accepted steps, one line per axes.
    rejected_markers_ : list of matplotlib Line2D
        The rejected steps, one per axes (empty lines when none).
    answer_markers_ : list of matplotlib Line2D
        The answer, one per axes.

    See Also
    --------
    HyperOptimizer : Its ``history_`` is what is drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import scale
    >>> from hoag_shine import HistoryDisplay, HyperOptimizer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = HyperOptimizer(max_iter=10, random_state=0).fit(scale(X), y)
    >>> display = HistoryDisplay.from_estimator(clf)
    >>> display.axes_[0].get_xlabel()
    'log(alpha)'
    """

    def __init__(self, history, *, name=None):
        self.history = history
        self.name = name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, name=None, **kwargs):
        """Plot the history of a fitted :class:`HyperOptimizer`.

        Parameters
        ----------
        estimator : HyperOptimizer
            Fitted estimator.
        ax : array-like of two matplotlib Axes, optional
            Where to draw; default a new figure with two panels side by side.
        name : str, optional
            Legend label; default the estimator's method.
        **kwargs
            Keyword arguments of :meth:`plot`.

        Returns
        -------
        HistoryDisplay
            The display, drawn.
        """
        check_is_fitted(estimator, "history_")
        if name is None:
            name = estimator.method if isinstance(estimator.method, str) \
                else type(estimator.method).__name__
        return cls(estimator.history_, name=name).plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, name=None, color=None):
        """Draw the two panels.

        Parameters
        ----------
        ax : array-like of two matplotlib Axes, optional
            Where to draw; default a new figure with two panels side by side.
        name : str, optional
            Legend label; overrides the one given at construction.
        color : matplotlib color, optional
            Colour of the run; default the next one of the axes' cycle.

        Returns
        -------
        HistoryDisplay
            ``self``, with the attributes ending in ``_`` set.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(9.0, 3.6))
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.shape != (2,):
            raise ValueError(f"ax must hold two Axes, got {axes.shape[0]}")
        name = self.name if name is None else name
        records = [r for r in self.history if np.isfinite(r["outer_loss"])]
        if not records:
            raise ValueError("the history holds no finite outer loss to plot")
        lam = np.array([float(np.mean(r["log_alpha"])) for r in records])
        loss = np.array([float(r["outer_loss"]) for r in records])
        time = np.array([float(r["time"]) for r in records])
        accepted = np.array([bool(r["accepted"]) for r in records])
        if any("answer" in r for r in records):
            answer = np.array([bool(r.get("answer", False)) for r in records])
        else:  # a history without the flag: its last accepted record
            answer = np.zeros(len(records), dtype=bool)
            answer[np.flatnonzero(accepted)[-1:]] = True
        several = np.size(records[0]["log_alpha"]) > 1
        self.accepted_lines_, self.rejected_markers_, self.answer_markers_ = [], [], []
        for axis, x in zip(axes, (lam, time)):
            line, = axis.plot(x[accepted], loss[accepted], "o-", ms=4, color=color,
                              label=name or "accepted steps")
            rejected, = axis.plot(x[~accepted], loss[~accepted], "x", ms=7,
                                  color=line.get_color(), linestyle="none",
                                  label=f"{name or 'run'}: rejected steps"
                                  if (~accepted).any() else "_nolegend_")
            # the star is explained in the axes' title of the legend
            star, = axis.plot(x[answer], loss[answer], "*", ms=12,
                                color=line.get_color(), linestyle="none",
                                label="_nolegend_")
            self.accepted_lines_.append(line)
            self.rejected_markers_.append(rejected)
            self.answer_markers_.append(star)
        axes[0].set_ylabel("outer loss (summed over held-out samples)")
        axes[0].set_xlabel("mean log(alpha)" if several else "log(alpha)")
        axes[1].set_xlabel("time (s)")
        axes[0].legend(fontsize=8, title="star: answer", title_fontsize=8)
        self.axes_ = axes
        self.figure_ = axes[0].figure
        return self
