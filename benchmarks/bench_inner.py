"""Inner solve: hoag_shine.minimize_lbfgs against scipy's L-BFGS-B.

Both solvers minimise the same ``fun_and_grad`` (summed logistic loss on the
whole data set plus ``1/2 exp(lambda) ||w||^2``) from ``w = 0`` with memory
``m`` and stop on the same criterion: the Euclidean norm of the gradient at
most ``tol * ||grad h(0)||``. Ours stops on it natively; scipy's own tests
(``gtol`` on the infinity norm of the projected gradient, ``ftol`` on the
relative decrease) are switched off (``gtol=0``, ``ftol=0``) and a callback
stops scipy as soon as the gradient of its current iterate (the last point it
evaluated) meets the criterion. scipy still stops when an iteration does not
decrease ``f`` at all (``ftol=0`` leaves that test on), which happens at tight
tolerances where ``f`` stagnates in rounding; the table says whether each
solver reached the tolerance, and a time ratio is only comparable when both
did. Every solve is repeated and the median time is reported, together with
the time spent inside ``fun_and_grad`` so that the solver's own overhead is
visible.

``hoag_shine/hessian-diagonal`` is our solver with the inverse Hessian
diagonal as initial matrix of its two-loop recursion (a diagonally
preconditioned L-BFGS); the Hessian diagonals it computes are part of its
overhead column, not of ``fun_and_grad``.

Run from the repository root::

    python -m benchmarks.bench_inner --data-home ../shared/datasets
"""
import argparse
import cProfile
import io
import pstats
import time

import numpy as np
from scipy.optimize import minimize

from hoag_shine import InnerProblem, minimize_lbfgs
from hoag_shine.solver.initial import hessian_diagonal_initial

from ._common import (add_common_arguments, describe_data, describe_machine,
                      format_machine, format_table, limit_threads, load_from_args,
                      median, thread_limit, write_json)

TARGET_RATIO = 1.3


class TimedFunction:
    """Wrap ``fun_and_grad``: count calls, time them, remember the last value.

    Parameters
    ----------
    fun_and_grad : callable
        ``w -> (value, gradient)``.
    """

    def __init__(self, fun_and_grad):
        self.fun_and_grad = fun_and_grad
        self.n_calls, self.seconds, self.last = 0, 0.0, None

    def __call__(self, w):
        start = time.perf_counter()
        self.last = self.fun_and_grad(w)
        self.seconds += time.perf_counter() - start
        self.n_calls += 1
        return self.last


def solve_ours(fun, x0, tol, m, max_iter, initial_matrix=None):
    """hoag_shine's L-BFGS; returns the fields the report needs."""
    res = minimize_lbfgs(fun, x0, memory_size=m, tol=tol, max_iter=max_iter, warn=False,
                         initial_matrix=initial_matrix)
    return {"x": res.x, "fun": float(res.fun), "grad_norm": float(res.grad_norm),
            "n_iter": int(res.n_iter), "message": res.message}


def solve_scipy(fun, x0, tol, m, max_iter, initial_matrix=None):
    """scipy's L-BFGS-B, stopped by a callback on the Euclidean gradient norm."""
    mismatches = []

    def stop_on_gradient_norm(intermediate_result):
        # L-BFGS-B's new iterate is the last point it evaluated; the value
        # check guards that assumption without evaluating anything again
        f, g = fun.last
        if f != intermediate_result.fun:
            mismatches.append(intermediate_result.fun)
            return
        if np.linalg.norm(g) <= tol:
            raise StopIteration

    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   callback=stop_on_gradient_norm,
                   options={"maxcor": m, "ftol": 0.0, "gtol": 0.0,
                            "maxiter": max_iter, "maxfun": 20 * max_iter})
    if mismatches:
        raise RuntimeError(f"{len(mismatches)} callback iterates were not the last "
                           "evaluated point; the stopping test is unreliable")
    return {"x": res.x, "fun": float(res.fun), "grad_norm": float(np.linalg.norm(res.jac)),
            "n_iter": int(res.nit), "message": str(res.message)}


SOLVERS = {"hoag_shine": solve_ours, "hoag_shine/hessian-diagonal": solve_ours,
           "scipy": solve_scipy}
#: the initial matrix of each solver: ``(problem, lam) -> initial_matrix`` or None
INITIAL = {"hoag_shine/hessian-diagonal": lambda problem, lam:
           hessian_diagonal_initial(problem, [lam])}


def run_once(solver, fun_and_grad, x0, tol, m, max_iter, initial_matrix=None):
    """One timed solve; adds wall time, evaluation count and time in ``fun_and_grad``."""
    fun = TimedFunction(fun_and_grad)
    start = time.perf_counter()
    out = solver(fun, x0, tol, m, max_iter, initial_matrix)
    out["seconds"] = time.perf_counter() - start
    out["nfev"], out["fun_seconds"] = fun.n_calls, fun.seconds
    return out


def summarise(runs):
    """Median timings over repeats; counts and final values from the last run."""
    last = runs[-1]
    seconds = [r["seconds"] for r in runs]
    fun_seconds = median([r["fun_seconds"] for r in runs])
    total = median(seconds)
    return {"seconds": total, "seconds_min": min(seconds), "seconds_max": max(seconds),
            "fun_seconds": fun_seconds,
            "overhead_seconds": median([r["seconds"] - r["fun_seconds"] for r in runs]),
            "n_iter": last["n_iter"], "nfev": last["nfev"],
            "grad_norm": last["grad_norm"], "fun": last["fun"],
            "message": last["message"],
            "n_iter_all_equal": len({r["n_iter"] for r in runs}) == 1}


def profile_ours(fun_and_grad, x0, tol, m, max_iter, n_lines=18):
    """cProfile of one solve of ours: the functions with the largest own time."""
    profiler = cProfile.Profile()
    profiler.runcall(minimize_lbfgs, fun_and_grad, x0, m=m, tol=tol,
                     max_iter=max_iter, warn=False)
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(n_lines)
    return stream.getvalue()


def benchmark_lambda(problem, lam, args):
    """Solve at one lambda with both solvers ``args.repeat`` times, interleaved."""
    fun_and_grad = problem.fun_and_grad([lam])
    x0 = np.zeros(problem.n_coef)
    tol = args.tol * np.linalg.norm(fun_and_grad(x0)[1])
    fun_and_grad(x0)  # warm caches before the first timed run
    runs = {name: [] for name in SOLVERS}
    for _ in range(args.repeat):
        for name, solver in SOLVERS.items():
            initial = INITIAL[name](problem, lam) if name in INITIAL else None
            runs[name].append(run_once(solver, fun_and_grad, x0, tol,
                                       args.memory, args.max_iter, initial))
    result = {name: summarise(r) for name, r in runs.items()}
    ours, ref = runs["hoag_shine"][-1], runs["scipy"][-1]
    result["tol"] = tol
    result["solution_rel_diff"] = float(
        np.linalg.norm(ours["x"] - ref["x"]) / max(np.linalg.norm(ref["x"]), 1e-300))
    result["objective_rel_diff"] = abs(ours["fun"] - ref["fun"]) / max(abs(ref["fun"]), 1e-300)
    if args.profile:
        result["profile"] = profile_ours(fun_and_grad, x0, tol, args.memory, args.max_iter)
    return result


def report(lambdas, results):
    """Print the per-solver table and the ratio table."""
    rows = []
    for lam, res in zip(lambdas, results):
        for name in SOLVERS:
            r = res[name]
            rows.append([f"{lam:g}", name,
                         f"{r['seconds']:.3f} [{r['seconds_min']:.3f}-{r['seconds_max']:.3f}]",
                         str(r["n_iter"]), str(r["nfev"]), f"{r['grad_norm']:.3e}",
                         f"{res['tol']:.3e}", "yes" if r["grad_norm"] <= res["tol"] else "NO",
                         f"{r['fun']:.10g}", f"{r['fun_seconds']:.3f}",
                         f"{r['overhead_seconds']:.3f}",
                         f"{1e3 * r['overhead_seconds'] / max(r['n_iter'], 1):.2f}"])
    print(format_table(["lambda", "solver", "time s (median [min-max])", "iters", "nfev",
                        "final ||g||_2", "tol (2-norm)", "reached", "objective", "in f&g s",
                        "overhead s", "overhead ms/iter"], rows))
    print()
    rows = []
    for lam, res in zip(lambdas, results):
        ours, ref = res["hoag_shine"], res["scipy"]
        ratio = ours["seconds"] / ref["seconds"]
        rows.append([f"{lam:g}", f"{ratio:.2f}", f"{ours['n_iter'] / ref['n_iter']:.2f}",
                     f"{ours['nfev'] / ref['nfev']:.2f}",
                     f"{ours['overhead_seconds'] / ref['overhead_seconds']:.2f}",
                     f"{res['objective_rel_diff']:.1e}", f"{res['solution_rel_diff']:.1e}",
                     ("yes" if ratio <= TARGET_RATIO else "NO")
                     + ("" if _both_reached(res) else " (not comparable: see below)")])
    print(format_table(["lambda", "time ours/scipy", "iters ours/scipy", "nfev ours/scipy",
                        "overhead ours/scipy", "|df|/|f|", "||dw||/||w||",
                        f"within {TARGET_RATIO}x"], rows))
    print()
    rows = []
    for lam, res in zip(lambdas, results):
        diag, ours, ref = res["hoag_shine/hessian-diagonal"], res["hoag_shine"], res["scipy"]
        rows.append([f"{lam:g}", f"{diag['seconds'] / ours['seconds']:.2f}",
                     f"{diag['n_iter'] / ours['n_iter']:.2f}",
                     f"{diag['nfev'] / ours['nfev']:.2f}",
                     f"{diag['seconds'] / ref['seconds']:.2f}",
                     f"{diag['n_iter'] / ref['n_iter']:.2f}"])
    print(format_table(["lambda", "time diag/gamma", "iters diag/gamma", "nfev diag/gamma",
                        "time diag/scipy", "iters diag/scipy"], rows))
    for lam, res in zip(lambdas, results):
        for name in SOLVERS:
            if res[name]["grad_norm"] > res["tol"]:
                print(f"note: {name} at lambda={lam:g} stopped before the tolerance: "
                      f"{res[name]['message']}")


def _both_reached(res):
    return all(res[name]["grad_norm"] <= res["tol"] for name in SOLVERS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[-4.0, 0.0, 4.0],
                        help="log-scale l2 strengths (default: %(default)s)")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="gradient 2-norm tolerance relative to ||grad h(0)|| "
                             "(default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="solves per solver and lambda; the median is reported")
    parser.add_argument("--memory", type=int, default=10, help="L-BFGS memory m (maxcor)")
    parser.add_argument("--max-iter", type=int, default=10000)
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one solve of ours per lambda")
    args = parser.parse_args(argv)

    with limit_threads(thread_limit(args)):
        machine = describe_machine()
        X, y = load_from_args(args, parser)
        problem = InnerProblem.from_data(X, y)
        print(format_machine(machine))
        print(describe_data(args.dataset, X, y))
        print(f"problem : summed logistic loss + 1/2 exp(lambda) ||w||^2, all samples, "
              f"w0 = 0, m = {args.memory}, stop when ||g||_2 <= {args.tol:g} ||g(0)||_2; "
              f"scipy: ftol = gtol = 0 and a callback on ||g||_2; median of {args.repeat}")
        print()
        results = [benchmark_lambda(problem, lam, args) for lam in args.lambdas]
    report(args.lambdas, results)
    for lam, res in zip(args.lambdas, results):
        for name in SOLVERS:
            if not res[name]["n_iter_all_equal"]:
                print(f"note: {name} at lambda={lam:g} did not take the same number of "
                      "iterations in every repeat")
        if "profile" in res:
            print(f"\ncProfile of one hoag_shine solve at lambda={lam:g}:")
            print(res.pop("profile"))
    if args.json:
        write_json(args.json, {"benchmark": "inner", "args": vars(args),
                               "machine": machine, "lambdas": args.lambdas,
                               "results": results})


if __name__ == "__main__":
    main()
