"""What ``hoag-shine`` prints and writes: progress, tables, notes, and files written whole."""

import csv
import json
import os
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter

import numpy as np

from .cli_data import format_table as plain_table

#: what each column of the table and each field of --output means
LEGEND = {
    "method": "hypergradient method (backward pass) of HyperOptimizer",
    "log_alpha": "chosen log(alpha), alpha the l2 strength on the summed training loss "
                 "(C = 1/alpha in LogisticRegression); with several strengths "
                 "(per-feature) the mean of their logarithms",
    "outer_loss": "outer loss at the answer, mean logistic loss per outer sample "
                  "(history_ records the sum over the outer samples)",
    "heldout_loss": "mean logistic loss per held-out sample, a part no method has seen",
    "accuracy": "accuracy on the held-out part",
    "time": "seconds of the fit",
    "time_backward": "seconds of its backward passes (hypergradient linear systems)",
    "n_iter": "outer iterations: evaluations of the outer loss, rejected steps "
              "included; equal to --max-iter when the cap stopped the run",
    "stop_reason": "why the outer loop stopped, a key of hoag_shine.outer.loop.STOP_MESSAGES "
                   "(stop_message: the same in words)",
    "n_warnings": "warnings raised by the fit (listed under the table)",
}
HEADER = {"method": "method", "log_alpha": "log alpha", "outer_loss": "outer loss",
          "heldout_loss": "held-out loss", "accuracy": "accuracy", "time": "time (s)",
          "time_backward": "backward (s)", "n_iter": "outer it", "n_warnings": "warnings"}
FORMATS = {"log_alpha": ".3f", "outer_loss": ".5f", "heldout_loss": ".5f",
           "accuracy": ".4f", "time": ".2f", "time_backward": ".3f", "n_iter": "d",
           "n_warnings": "d"}


def format_duration(seconds):
    """Seconds as a short readable duration.

    Parameters
    ----------
    seconds : float
        Non-negative duration.

    Returns
    -------
    str
        For instance "0.42 s", "12 s", "3 min 05 s" or "1 h 02 min".

    Examples
    --------
    >>> format_duration(185)
    '3 min 05 s'
    """
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class ProgressPrinter:
    """Progress of a sequence of tasks of a few steps each, one line at a time.

    Each line gives the elapsed wall time and an estimate of the time left,
    extrapolated from the work done so far (a task counts as
    ``steps_per_task`` steps; one that stops early makes the estimate an
    upper bound).

    Parameters
    ----------
    n_tasks : int
        Number of tasks (methods, or method and seed pairs).
    steps_per_task : int
        Steps allowed to one task (the outer iteration cap).
    verbose : int, default=1
        0 prints nothing, 1 a line per finished task, 2 also a line per step.
        At level 1 on a terminal, the current step is shown on one line
        rewritten in place, so that a long task is never silent.
    stream : file-like, optional
        Where to print (default: ``sys.stderr`` at the time of printing).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> progress = ProgressPrinter(2, 10, verbose=1, stream=out)
    >>> progress.start_task("cg")
    >>> progress.end_task("done")
    >>> out.getvalue().startswith("[1/2 cg] done")
    True
    """

    def __init__(self, n_tasks, steps_per_task, *, verbose=1, stream=None):
        self.n_tasks = n_tasks
        self.steps_per_task = max(int(steps_per_task), 1)
        self.verbose = verbose
        self.stream = stream
        self._start = perf_counter()
        self._done, self._steps, self._name = 0, 0, None

    def start_task(self, name):
        """Announce the next task (prints nothing).

        Parameters
        ----------
        name : str
            Shown at the start of its lines.
        """
        self._name, self._steps = name, 0

    def step(self, text=""):
        """Count one step of the current task; print a line when ``verbose >= 2``.

        Parameters
        ----------
        text : str, default=""
            What the step did.
        """
        self._steps = min(self._steps + 1, self.steps_per_task)
        if self.verbose >= 2:
            self._print(text)
        elif self.verbose == 1 and self._is_terminal():
            self._print(text, live=True)

    def end_task(self, text=""):
        """Close the current task; print a line when ``verbose >= 1``.

        Parameters
        ----------
        text : str, default=""
            How the task ended.
        """
        self._done, self._steps = self._done + 1, 0
        if self.verbose >= 1:
            self._print(text, finished=True)

    def remaining(self):
        """Estimated seconds left, from the average time per step so far.

        Returns
        -------
        float
            NaN before the first step.
        """
        done = self._done + self._steps / self.steps_per_task
        if done <= 0:
            return float("nan")
        return (perf_counter() - self._start) / done * (self.n_tasks - done)

    def _is_terminal(self):
        stream = self.stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def _print(self, text, finished=False, live=False):
        index = self._done if finished else self._done + 1
        left = self.remaining()
        eta = "" if not np.isfinite(left) or index == self.n_tasks and finished \
            else f", about {format_duration(left)} left"
        line = (f"[{index}/{self.n_tasks} {self._name}] {text}  (elapsed "
                f"{format_duration(perf_counter() - self._start)}{eta})")
        stream = self.stream or sys.stderr
        if live:  # rewrite the terminal's current line ("\x1b[K" clears its end)
            print(f"\r{line}\x1b[K", end="", file=stream, flush=True)
        else:
            prefix = "\r\x1b[K" if self.verbose == 1 and self._is_terminal() else ""
            print(prefix + line, file=stream, flush=True)


def format_table(rows, per_feature=False):
    """Render :func:`compare`'s rows as a fixed-width table.

    Parameters
    ----------
    rows : list of dict
        Rows as returned by :func:`compare`.
    per_feature : bool, default=False
        Title the strength column "mean log alpha".

    Returns
    -------
    str
        A header line, a rule, and one line per row.
    """
    header = [HEADER[k] for k in HEADER]
    if per_feature:
        header[1] = "mean log alpha"
    cells = [[r["method"]] + [format(r[k], FORMATS[k]) for k in list(HEADER)[1:]]
             for r in rows]
    return plain_table(header, cells)


def format_notes(rows):
    """Why each method stopped and the warnings it raised, one line each.

    Parameters
    ----------
    rows : list of dict
        Rows as returned by :func:`compare`.

    Returns
    -------
    str
        Lines ``method: stopped: ...`` and ``method: warning: ...``.
    """
    lines = []
    for r in rows:
        lines.append(f"{r['method']}: stopped: {r['stop_message']}")
        lines += [f"{r['method']}: warning: {text}" for text in r["warnings"]]
    return "\n".join(lines)


def format_legend(per_feature=False):
    """The meaning of the table's columns.

    Parameters
    ----------
    per_feature : bool, default=False
        Say that the strength column is a mean.

    Returns
    -------
    str
        One line per column.
    """
    names = dict(HEADER, log_alpha="mean log alpha" if per_feature else "log alpha")
    return "\n".join(textwrap.fill(LEGEND[k], 79, initial_indent=f"  {names[k]:<15} ",
                                   subsequent_indent=" " * 18) for k in names)


def write_output(path, rows, meta):
    """Write the rows as CSV (one line per method) or JSON (rows, legend and run).

    The file is written under a temporary name in the same folder and then
    renamed: an interruption or a full disk leaves the previous file, never
    half of the new one.

    Parameters
    ----------
    path : str or path-like
        Ends in ``.csv`` or ``.json``.
    rows : list of dict
        Rows as returned by :func:`compare`.
    meta : dict
        What was run (data set, sizes, options); JSON only.
    """
    path = Path(path)
    with write_atomically(path) as file:
        write_rows(file, rows, meta, "json" if path.suffix == ".json" else "csv")


def write_rows(file, rows, meta, output_format):
    """Write the rows to an open file as CSV or JSON.

    Parameters
    ----------
    file : file-like
        Open for writing text.
    rows : list of dict
        Rows as returned by :func:`compare`.
    meta : dict
        What was run; JSON only.
    output_format : {"json", "csv"}
        JSON: one object with ``meta``'s fields, the legend and the rows;
        CSV: one line per method.
    """
    if output_format == "json":
        file.write(json.dumps(dict(meta, legend=LEGEND, rows=rows), indent=2) + "\n")
    else:
        _write_csv(file, rows)


@contextmanager
def write_atomically(path, binary=False):
    """Open a temporary file beside ``path``; rename it to ``path`` on success.

    An interruption or a full disk leaves the previous file, never half of
    the new one.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    binary : bool, default=False
        Open in binary mode (else text with universal newlines off).

    Yields
    ------
    file object
        The temporary file, open for writing.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") if binary else partial.open("w", newline="") as file:
            yield file
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_csv(file, rows):
    fields = ["method", *list(HEADER)[1:], "C", "stop_reason", "stop_message", "warnings"]
    writer = csv.DictWriter(file, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow(dict(r, warnings=" | ".join(r["warnings"])))
