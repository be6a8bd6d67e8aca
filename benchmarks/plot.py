"""Figures and a summary table from the CSV written by ``benchmarks.run``.

Example::

    python -m benchmarks.plot benchmarks/results/20news.csv --out-dir docs/_static/bench

writes ``<dataset>_convergence.{png,pdf}`` (relative gap of the held-out
loss to the best seen for that seed, median over seeds against median time,
10-90% band, the 1% target drawn; a symmetric-log axis so that a gap of zero is
drawn at zero, not at an arbitrary floor), ``<dataset>_backward.{png,pdf}``
(backward-pass time per outer step, bars from zero labelled with their values)
and ``<dataset>_summary.md`` (the table also printed) and
``<dataset>_summary.rst`` (the same table for the documentation). Each method
has one colour in every figure.
"""
import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np


from .run import COLD
from .solvers import SOLVERS

#: "reached" means held-out loss within this relative gap of the seed's best
TARGET = 0.01
#: relative gaps below this are drawn on a linear scale (zero included)
LINEAR_BELOW = 1e-4
#: the methods in a fixed order: a method's colour is the same in every figure
#: and every data set
COLOR_ORDER = list(SOLVERS)


def read_runs(*paths):
    """Rows of the CSVs grouped as ``{method: {seed: [row, ...]}}`` (steps in order).

    Several files of the same data set (e.g. a cheap and an expensive set of
    methods run separately with the same seeds) are merged.
    """
    runs = defaultdict(lambda: defaultdict(list))
    datasets = set()
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for key in ("time", "heldout_loss", "outer_loss", "log_alpha"):
                    row[key] = float(row[key])
                row["time_backward"] = float(row["time_backward"] or "nan")
                runs[row["method"]][int(row["seed"])].append(row)
                datasets.add(row["dataset"])
    if len(datasets) != 1:
        raise ValueError(f"the files hold {len(datasets)} data sets: {sorted(datasets)}")
    dataset = datasets.pop()
    for seeds in runs.values():
        for rows in seeds.values():
            rows.sort(key=lambda r: int(r["step"]))
    return dataset, runs


def best_per_seed(runs):
    """Lowest held-out loss seen for each seed, over every method and step."""
    best = {}
    for seeds in runs.values():
        for seed, rows in seeds.items():
            best[seed] = min(best.get(seed, np.inf), min(r["heldout_loss"] for r in rows))
    return best


def median_curve(seeds, best):
    """Median time and 10/50/90% relative gap to the best per step, over the seeds.

    The gap is ``heldout_loss / best - 1`` (zero for the best run), never
    clipped.
    """
    n_steps = min(len(rows) for rows in seeds.values())
    times = np.array([[rows[k]["time"] for k in range(n_steps)] for rows in seeds.values()])
    gaps = np.array([[rows[k]["heldout_loss"] / best[s] - 1.0 for k in range(n_steps)]
                     for s, rows in seeds.items()])
    return (np.median(times, axis=0),
            *np.percentile(gaps, [10, 50, 90], axis=0))


def time_to_target(rows, best):
    """Time from which the held-out loss stays within TARGET of ``best`` (inf if never).

    A run that touches the target and then drifts away is not counted as
    having reached it at the touch: the answer is the time of the first
    step after the last one outside the target.
    """
    inside = [r["heldout_loss"] <= best * (1 + TARGET) for r in rows]
    if not inside or not inside[-1]:
        return np.inf
    last_outside = max((k for k, ok in enumerate(inside) if not ok), default=-1)
    return rows[last_outside + 1]["time"]


def method_color(method):
    """The colour of ``method`` in every figure.

    matplotlib's tab10 for the first ten registered methods, then the light
    shades of tab20; a method not registered gets the next free colour.
    """
    import matplotlib

    order = COLOR_ORDER + [m for m in [method] if m not in COLOR_ORDER]
    k = order.index(method) % 20
    if k < 10:
        return matplotlib.colormaps["tab10"](k)
    return matplotlib.colormaps["tab20"](2 * (k - 10) + 1)


def summary(runs):
    """One dict per method: medians over seeds of the reported quantities."""
    best = best_per_seed(runs)
    table = []
    for method, seeds in runs.items():
        backward = [_mean_or_nan([r["time_backward"] for r in rows]) for rows in seeds.values()]
        table.append({
            "method": method,
            "time_to_1pct": float(np.median([time_to_target(rows, best[s])
                                             for s, rows in seeds.items()])),
            "reached": sum(np.isfinite(time_to_target(rows, best[s]))
                           for s, rows in seeds.items()),
            "seeds": len(seeds),
            "final_heldout": float(np.median([rows[-1]["heldout_loss"]
                                              for rows in seeds.values()])),
            "total_time": float(np.median([rows[-1]["time"] for rows in seeds.values()])),
            "backward_per_step": float(np.median(backward)) if not np.all(np.isnan(backward))
            else np.nan,
        })
    cg = next((r["backward_per_step"] for r in table if r["method"] == "cg"), np.nan)
    cold = {s: rows[0]["time"] for s, rows in runs.get(COLD, {}).items()}
    for r in table:
        r["backward_ratio_to_cg"] = r["backward_per_step"] / cg
        seeds = runs[r["method"]]
        ratios = [time_to_target(rows, best[s]) / cold[s] for s, rows in seeds.items()
                  if s in cold]
        r["ratio_to_cold"] = float(np.median(ratios)) if ratios else np.nan
    return table


def format_summary(table):
    """Markdown table of :func:`summary`."""
    lines = ["| method | time to stay within 1% of best (s) | seeds staying there "
             "| in cold solves | final held-out loss | total time (s) "
             "| backward per step (ms) | backward / cg |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(table, key=lambda r: r["time_to_1pct"]):
        if r["method"] == COLD:
            continue
        bwd = r["backward_per_step"]
        lines.append(
            f"| {r['method']} | {_num(r['time_to_1pct'], '.2f')} | {r['reached']}/{r['seeds']} "
            f"| {_num(r['ratio_to_cold'], '.2f')} "
            f"| {r['final_heldout']:.5f} | {r['total_time']:.2f} | {_num(1e3 * bwd, '.2f')} "
            f"| {_num(r['backward_ratio_to_cg'], '.3f')} |")
    return "\n".join(lines)


def format_summary_rst(table, title):
    """The same table as :func:`format_summary`, as a reStructuredText csv-table."""
    rows = format_summary(table).splitlines()
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    lines = [f".. csv-table:: {title}",
             "   :header: " + ", ".join(f'"{c}"' for c in cells[0]), ""]
    lines += ["   " + ", ".join(f'"{c}"' for c in row) for row in cells[2:]]
    return "\n".join(lines)


def _mean_or_nan(values):
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else np.nan


def _num(value, fmt):
    return format(value, fmt) if np.isfinite(value) else "—"


def plot(runs, dataset, out_dir):
    """Write the convergence and backward-time figures; return their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    best = best_per_seed(runs)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for method, seeds in sorted(runs.items()):
        if method == COLD:
            continue  # a cost unit, not a search
        t, lo, mid, hi = median_curve(seeds, best)
        search = method.startswith(("grid", "random", "logreg"))
        color = method_color(method)
        ax.plot(t, mid, "--" if search else "-", marker="o" if len(t) == 1 else None,
                color=color, label=method, drawstyle="steps-post" if search else "default")
        ax.fill_between(t, lo, hi, color=color, alpha=0.15,
                        step="post" if search else None)
    if COLD in runs:
        cold = float(np.median([rows[0]["time"] for rows in runs[COLD].values()]))
        ax.axvline(cold, color="grey", linewidth=0.8, linestyle="-.")
        ax.annotate("one cold solve", (cold, 1.0), xycoords=("data", "axes fraction"),
                    ha="left", va="top", fontsize=8, color="grey", rotation=90)
    ax.axhline(TARGET, color="black", linewidth=0.8, linestyle=":")
    ax.annotate(f"{TARGET:.0%} of best", (1.0, TARGET), xycoords=("axes fraction", "data"),
                ha="right", va="bottom", fontsize=8)
    ax.set_yscale("symlog", linthresh=LINEAR_BELOW)
    ax.set_ylim(bottom=0.0)
    ax.set_xscale("log")
    ax.set_xlabel("time (s, median over seeds)")
    ax.set_ylabel("held-out loss / best seen for the seed - 1")
    ax.set_title(f"{dataset}: {len(best)} seed(s), median and 10-90% band\n"
                 f"(linear below {LINEAR_BELOW:g}, so that 0 is the best run)", fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    paths = _save(fig, out_dir / f"{dataset}_convergence")

    table = [r for r in summary(runs) if np.isfinite(r["backward_per_step"])]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bars = ax.bar([r["method"] for r in table], [1e3 * r["backward_per_step"] for r in table],
                  color=[method_color(r["method"]) for r in table])
    ax.bar_label(bars, fmt="%.3g", fontsize=8)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("backward time per outer step (ms)")
    ax.set_title(f"{dataset}: cost of the hypergradient's linear system (median over seeds)",
                 fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    paths += _save(fig, out_dir / f"{dataset}_backward")
    plt.close("all")
    return paths


def _save(fig, stem):
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=120)
    return paths


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="+", help="file(s) written by benchmarks.run, "
                        "one data set")
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args(argv)
    dataset, runs = read_runs(*args.csv)
    paths = plot(runs, dataset, args.out_dir)
    text = format_summary(summary(runs))
    table = summary(runs)
    (Path(args.out_dir) / f"{dataset}_summary.md").write_text(text + "\n")
    n_seeds = max(len(seeds) for seeds in runs.values())
    (Path(args.out_dir) / f"{dataset}_summary.rst").write_text(
        format_summary_rst(table, f"{dataset}, medians over {n_seeds} seed(s)") + "\n")
    print(text)
    print("figures:", ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
