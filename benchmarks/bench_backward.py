"""Backward pass: cost and accuracy of each hypergradient method against CG.

On the paper's split (90% training, 5% outer set) and at a few values of
lambda, each method runs one forward pass (the inner L-BFGS solve, with the
method's own memory size: 10 for CG and Jacobian-free, 30 for the SHINE
variants, 60 for SHINE-OPA) and one backward pass through
:func:`hoag_shine.solve_and_differentiate`. Reported per method: forward time,
inner iterations and gradient evaluations, backward time
(``result.time_backward``) and Hessian-vector products, and the relative error
of the hypergradient against CG at a tight tolerance (default 1e-10).

The error is measured at the method's own inner solution: the reference CG
solve is rerun at that solution when it differs from the reference run's
(different memory size, or SHINE-OPA whose forward pass makes extra secant
updates), so the column isolates the error of the backward pass. A second
column compares with the reference run's hypergradient itself (forward
differences included).

Inversion quality, as the SHINE paper measures it (its Figure 2): for each
method, ``q = B v`` (``v`` the outer gradient) against ``q* = H^{-1} v`` from
cold-started CG to ``--reference-tol`` at the method's own inner solution;
the table prints the cosine of ``q`` to ``q*``, the norm ratio
``||q|| / ||q*||``, ``|cos(w, q*)|`` (how much the scalar hypergradient
``-alpha w^T q`` amplifies the error of ``q``), the relative error of the
scalar hypergradient, and the per-feature hypergradient accuracy: the cosine
of the vector ``-alpha w * q`` (the hypergradient in per-feature strengths,
all equal to ``alpha``) to the same vector with ``q*``. A spec
``name/initial`` runs the method with that initial matrix of the L-BFGS
two-loop recursion (``shine/hessian-diagonal``); ``--inner-tol`` takes several
tolerances.

Backward times are compared with CG at the tolerance a HOAG step would use
(``--hoag-tol``, default 1e-3; HOAG decreases it along the run). In a HOAG
run CG is warm-started at the previous step's solution, which this one-shot
benchmark does not do; its CG counts are therefore those of a cold start.

Run from the repository root::

    python -m benchmarks.bench_backward --data-home ../shared/datasets

The inversion-quality comparison of the documentation::

    python -m benchmarks.bench_backward --data-home ../shared/datasets \
        --inner-tol 1e-3 1e-5 --repeat 1 \
        --methods shine shine/hessian-diagonal shine-opa shine-opa/hessian-diagonal
"""
import argparse
import hashlib
import warnings

import numpy as np

from hoag_shine import InnerProblem, LogisticLoss, get_method, solve_and_differentiate

from ._common import (add_common_arguments, describe_data, describe_machine,
                      format_machine, format_table, limit_threads, load_from_args,
                      median, split_indices, thread_limit, write_json)

DEFAULT_METHODS = ["cg@1e-10", "cg@1e-6", "cg@1e-3", "shine", "shine/hessian-diagonal",
                   "shine-opa", "shine-refine", "shine-pcg@1e-3", "shine-pcg@1e-10",
                   "jacobian-free"]


def format_tol(tol):
    """``1e-3`` rather than ``0.001``: tolerances read as powers of ten."""
    mantissa, exponent = f"{tol:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def canonical_spec(spec):
    """``"name[@tol][/initial]"`` with the tolerance written by :func:`format_tol`."""
    spec, _, initial = spec.partition("/")
    name, _, tol = spec.partition("@")
    spec = f"{name}@{format_tol(float(tol))}" if tol else name
    return f"{spec}/{initial}" if initial else spec


def initial_of(spec):
    """The initial matrix named by ``"name[@tol][/initial]"`` ("gamma" by default)."""
    return spec.partition("/")[2] or "gamma"


def make_method(spec, args):
    """``"name[@tol][/initial]"`` -> a method object (package defaults otherwise)."""
    name, _, tol = spec.partition("/")[0].partition("@")
    options = {"tol": float(tol) if tol else None}
    if name == "shine-refine":
        options["max_iter"] = args.refine_max_iter
    if name == "shine-opa":
        options["freq"] = args.opa_freq
    return get_method(name, **options)


def _key(w):
    return hashlib.sha1(np.ascontiguousarray(w).view(np.uint8)).hexdigest()


def reference_q(problem, outer, log_alpha, w, tol):
    """``q* = H^{-1} grad g(w)`` at ``w`` by cold-started CG at tolerance ``tol``."""
    hessian = problem.hessian_operator(w, log_alpha)
    q, _ = get_method("cg", tol=tol, warm_start=False).solve(
        hessian, outer.gradient(w), None, None)
    return q


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def inversion_quality(q, q_star, w):
    """The SHINE paper's measures of ``q`` against ``q*``, and what they mean for ``w``."""
    return {"cos_q": _cos(q, q_star),
            "norm_ratio": float(np.linalg.norm(q) / np.linalg.norm(q_star)),
            "rel_err_q": float(np.linalg.norm(q - q_star) / np.linalg.norm(q_star)),
            "abs_cos_w_q_star": abs(_cos(w, q_star)),
            "cos_per_feature": _cos(w * q, w * q_star)}


def run_method(problem, outer, log_alpha, method, inner_tol, args, initial="gamma"):
    """``args.repeat`` forward+backward passes; median times, last result."""
    runs = []
    for _ in range(args.repeat):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = solve_and_differentiate(
                problem, outer, log_alpha, method, inner_tol=inner_tol,
                inner_max_iter=args.max_iter, memory_size=args.memory,
                initial_matrix=initial)
        runs.append(result)
    return {"result": runs[-1],
            "time_forward": median([r.time_forward for r in runs]),
            "time_backward": median([r.time_backward for r in runs]),
            "warnings": sorted({str(w.message) for w in caught})}


def benchmark_lambda(problem, outer, lam, specs, args, relative_tol):
    """All methods at one lambda; the reference spec must come first."""
    log_alpha = np.array([lam])
    w0 = np.zeros(problem.n_coef)
    inner_tol = relative_tol * np.linalg.norm(problem.value_and_gradient(w0, log_alpha)[1])
    references, q_stars, rows = {}, {}, {}
    for spec in specs:
        method = make_method(spec, args)
        out = run_method(problem, outer, log_alpha, method, inner_tol, args,
                         initial_of(spec))
        res = out["result"]
        key = _key(res.w)
        if key not in references:
            q_stars[key] = (res.q if spec == specs[0] else
                            reference_q(problem, outer, log_alpha, res.w,
                                        args.reference_tol))
            references[key] = -problem.cross_vjp(res.w, log_alpha, q_stars[key])
        rows[spec] = {
            "method": repr(method), "memory": int(res.inner.memory.memory_size),
            "time_forward": out["time_forward"], "time_backward": out["time_backward"],
            "n_inner_iter": res.n_inner_iter, "n_grad_evals": res.n_grad_evals,
            "n_hvp": res.n_hvp, "inner_converged": bool(res.inner.success),
            "grad": res.grad.tolist(), "outer_loss": res.outer_loss,
            "reference_grad_own_w": references[key].tolist(),
            "rel_err_own_w": _rel_err(res.grad, references[key]),
            **inversion_quality(res.q, q_stars[key], res.w),
            "warnings": out["warnings"]}
    reference = np.array(rows[specs[0]]["grad"])
    for row in rows.values():
        row["rel_err_vs_reference_run"] = _rel_err(np.array(row["grad"]), reference)
    return {"lambda": lam, "relative_inner_tol": relative_tol, "inner_tol": inner_tol,
            "methods": rows}


def _rel_err(grad, reference):
    return float(np.linalg.norm(grad - reference) / np.linalg.norm(reference))


def report(results, specs, reference_spec, hoag_spec):
    """Print one table per lambda, then the backward-time summary."""
    for res in results:
        ref_bw = res["methods"][reference_spec]["time_backward"]
        hoag_bw = res["methods"][hoag_spec]["time_backward"]
        print(f"lambda = {res['lambda']:g}   (inner tol {res['relative_inner_tol']:g} "
              f"||grad h(0)||_2 = {res['inner_tol']:.3e})")
        rows = []
        for spec in specs:
            r = res["methods"][spec]
            rows.append([spec, str(r["memory"]), f"{r['time_forward']:.2f}",
                         str(r["n_inner_iter"]) + ("" if r["inner_converged"] else "*"),
                         str(r["n_grad_evals"]), f"{1e3 * r['time_backward']:.1f}",
                         str(r["n_hvp"]), f"{r['grad'][0]:.6g}",
                         f"{r['rel_err_own_w']:.1e}", f"{r['rel_err_vs_reference_run']:.1e}",
                         f"{r['time_backward'] / hoag_bw:.3g}",
                         f"{r['time_backward'] / ref_bw:.3g}"])
        print(format_table(
            ["method", "m", "fwd s", "inner it", "grad evals", "bwd ms", "HVPs",
             "hypergradient", f"rel err ({reference_spec} at same w)",
             f"rel err vs {reference_spec} run", f"bwd / {hoag_spec}",
             f"bwd / {reference_spec}"], rows))
        for spec in specs:
            for message in res["methods"][spec]["warnings"]:
                print(f"  warning ({spec}): {message}")
        print()
    report_quality(results, specs, reference_spec)
    rows = []
    for spec in specs:
        speedups = [res["methods"][hoag_spec]["time_backward"] /
                    res["methods"][spec]["time_backward"] for res in results]
        errors = [res["methods"][spec]["rel_err_own_w"] for res in results]
        rows.append([spec, " ".join(f"{s:8.1f}" for s in speedups),
                     " ".join(f"{e:8.1e}" for e in errors)])
    lambdas = " ".join(f"{res['lambda']:g}@{res['relative_inner_tol']:g}" for res in results)
    print(f"summary over lambda@inner tol = {lambdas}")
    print(format_table(["method", f"bwd speed-up vs {hoag_spec} (x)",
                        f"rel err vs {reference_spec} (same w)"], rows))
    if "shine" in specs:
        speedups = [res["methods"][hoag_spec]["time_backward"] /
                    res["methods"]["shine"]["time_backward"] for res in results]
        print(f"\nSHINE backward pass vs {hoag_spec}: {min(speedups):.0f}x to "
              f"{max(speedups):.0f}x cheaper (the SHINE paper reports up to two "
              f"orders of magnitude, i.e. ~100x).")


def report_quality(results, specs, reference_spec):
    """One table: inversion quality of every method at every (lambda, inner tol)."""
    rows = []
    for res in results:
        for spec in specs[1:]:
            r = res["methods"][spec]
            rows.append([f"{res['lambda']:g}", f"{res['relative_inner_tol']:g}", spec,
                         f"{r['cos_q']:.3f}", f"{r['norm_ratio']:.3g}",
                         f"{r['rel_err_q']:.2f}", f"{r['abs_cos_w_q_star']:.3g}",
                         f"{r['rel_err_own_w']:.1e}", f"{r['cos_per_feature']:.3f}"])
    print(f"inversion quality: q = B v against q* = H^-1 v ({reference_spec}, cold start) "
          "at each method's own inner solution")
    print(format_table(["lambda", "inner tol", "method", "cos(q, q*)", "|q|/|q*|",
                        "|q-q*|/|q*|", "|cos(w, q*)|", "scalar hypergrad rel err",
                        "per-feature hypergrad cos"], rows))
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[-6.0, -4.0, -2.0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS,
                        help="'name' or 'name@tol' (default: %(default)s)")
    parser.add_argument("--reference-tol", type=float, default=1e-10,
                        help="CG tolerance of the reference hypergradient")
    parser.add_argument("--hoag-tol", type=float, default=1e-3,
                        help="CG tolerance the backward times are compared with")
    parser.add_argument("--inner-tol", type=float, nargs="+", default=[1e-6],
                        help="inner tolerances relative to ||grad h(0)||_2")
    parser.add_argument("--max-iter", type=int, default=1000, help="inner iteration cap")
    parser.add_argument("--memory", type=int, default=None,
                        help="L-BFGS memory for all methods (default: each method's)")
    parser.add_argument("--opa-freq", type=int, default=None,
                        help="iterations between OPA updates (default: the package's)")
    parser.add_argument("--refine-max-iter", type=int, default=None,
                        help="shine-refine's CG budget (default: the package's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    parser.add_argument("--repeat", type=int, default=3,
                        help="passes per method; median times are reported")
    args = parser.parse_args(argv)

    reference_spec = f"cg@{format_tol(args.reference_tol)}"
    hoag_spec = f"cg@{format_tol(args.hoag_tol)}"
    specs = [reference_spec]
    for spec in map(canonical_spec, args.methods):
        if spec not in specs:
            specs.append(spec)
    if hoag_spec not in specs:
        specs.insert(1, hoag_spec)
    with limit_threads(thread_limit(args)):
        machine = describe_machine()
        X, y = load_from_args(args, parser)
        train, outer_idx, _ = split_indices(X.shape[0], args.seed)
        problem = InnerProblem.from_data(X[train], y[train])
        outer = LogisticLoss(X[outer_idx], y[outer_idx])
        print(format_machine(machine))
        print(describe_data(args.dataset, X, y))
        print(f"split   : {len(train):,} training, {len(outer_idx):,} outer samples "
              f"(seed {args.seed}); inner tol {args.inner_tol} ||grad h(0)||_2, "
              f"max_iter {args.max_iter}; median of {args.repeat} passes per method")
        print()
        results = [benchmark_lambda(problem, outer, lam, specs, args, tol)
                   for lam in args.lambdas for tol in args.inner_tol]
    report(results, specs, reference_spec, hoag_spec)
    if args.json:
        write_json(args.json, {"benchmark": "backward", "args": vars(args),
                               "machine": machine, "results": results})


if __name__ == "__main__":
    main()
