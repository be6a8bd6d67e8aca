"""Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6).

Close to a minimiser, differences of function values drown in rounding
errors and the sufficient-decrease test becomes unreliable. A trial step whose
value is within rounding of the starting value is then judged by its slope
instead (the approximate Wolfe condition of Hager and Zhang, 2005).
"""
import numpy as np

# relative size of the rounding band around f(x) used by the approximate test
_F_NOISE = 1e-10


class _Phi:
    """``phi(t) = f(x + t d)`` with its slope, caching every evaluation."""

    def __init__(self, fun_and_grad, x, d, f0, slope0, c1):
        self.fun_and_grad, self.x, self.d = fun_and_grad, x, d
        self.f0, self.slope0, self.c1 = f0, slope0, c1
        self.f_noise = _F_NOISE * max(abs(f0), 1.0)
        self.evals = {}
        self.n_eval = 0

    def __call__(self, t):
        self.n_eval += 1
        x_t = self.x + t * self.d
        f, g = self.fun_and_grad(x_t)
        slope = float(np.dot(g, self.d))
        self.evals[t] = (x_t, f, g)
        return f, slope

    def noisy(self, f_t):
        """True when ``f_t`` cannot be told apart from ``f0`` by rounding."""
        return abs(f_t - self.f0) <= self.f_noise

    def sufficient(self, t, f_t, d_t):
        """Armijo condition, or its slope-based version in the rounding band."""
        if not (np.isfinite(f_t) and np.isfinite(d_t)):
            return False
        if f_t <= self.f0 + self.c1 * t * self.slope0:
            return True
        return self.noisy(f_t) and d_t <= -(1 - 2 * self.c1) * self.slope0


def _cubic_min(a, fa, da, b, fb, db):
    """Minimiser of the cubic interpolating ``(a, fa, da)`` and ``(b, fb, db)``."""
    if a == b:
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    radicand = d1 * d1 - da * db
    if not np.isfinite(radicand) or radicand < 0:
        return None
    d2 = np.copysign(np.sqrt(radicand), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0:
        return None
    return b - (b - a) * (db + d2 - d1) / denom


def _worse(phi, t, f_t, d_t, f_ref):
    """The trial step brackets a minimiser from above (N&W's zoom test)."""
    if not phi.sufficient(t, f_t, d_t):
        return True
    return f_t >= f_ref and not phi.noisy(f_t)


def _zoom(phi, lo, hi, c2, max_eval):
    (a_lo, f_lo, d_lo), (a_hi, f_hi, d_hi) = lo, hi
    for _ in range(max_eval):
        width = a_hi - a_lo
        if width == 0:
            break
        t = None
        if np.isfinite(f_hi) and np.isfinite(d_hi):
            t = _cubic_min(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi)
        # keep the trial point well inside the bracket
        inner_lo, inner_hi = sorted((a_lo + 0.1 * width, a_hi - 0.1 * width))
        if t is None or not inner_lo <= t <= inner_hi:
            t = a_lo + 0.5 * width
        f_t, d_t = phi(t)
        if _worse(phi, t, f_t, d_t, f_lo):
            a_hi, f_hi, d_hi = t, f_t, d_t
        else:
            if abs(d_t) <= -c2 * phi.slope0:
                return t
            if d_t * (a_hi - a_lo) >= 0:
                a_hi, f_hi, d_hi = a_lo, f_lo, d_lo
            a_lo, f_lo, d_lo = t, f_t, d_t
    # budget exhausted: the low end always satisfies sufficient decrease
    return a_lo if a_lo > 0 else None


def strong_wolfe(fun_and_grad, x, f0, g0, d, step=1.0, c1=1e-4, c2=0.9,
                 max_eval=30):
    """Find a step along ``d`` satisfying the strong Wolfe conditions.

    Parameters
    ----------
    fun_and_grad : callable
        ``x -> (value, gradient)``.
    x : ndarray
        Current point.
    f0 : float
        Value at ``x``.
    g0 : ndarray
        Gradient at ``x``.
    d : ndarray
        Descent direction (``g0 @ d < 0``).
    step : float, default=1.0
        First trial step.
    c1, c2 : float
        Sufficient-decrease and curvature constants, ``0 < c1 < c2 < 1``.
    max_eval : int, default=30
        Maximum number of function evaluations.

    Returns
    -------
    step : float or None
        Accepted step, or None if no point of sufficient decrease was found.
        When the budget runs out, the best step of sufficient decrease is
        returned even if it misses the curvature condition.
    new_point : tuple (x, f, g) or None
        Point, value and gradient at the accepted step.
    n_eval : int
        Number of function evaluations.
    """
    slope0 = float(np.dot(g0, d))
    phi = _Phi(fun_and_grad, x, d, f0, slope0, c1)
    prev = (0.0, f0, slope0)
    t = float(step)
    accepted = None
    for i in range(max_eval):
        f_t, d_t = phi(t)
        if _worse(phi, t, f_t, d_t, prev[1]):
            accepted = _zoom(phi, prev, (t, f_t, d_t), c2, max_eval - i - 1)
            break
        if abs(d_t) <= -c2 * slope0:
            accepted = t
            break
        if d_t >= 0:
            accepted = _zoom(phi, (t, f_t, d_t), prev, c2, max_eval - i - 1)
            break
        prev = (t, f_t, d_t)
        t *= 4.0
    else:
        accepted = prev[0] if prev[0] > 0 else None
    if accepted is None:
        return None, None, phi.n_eval
    return accepted, phi.evals[accepted], phi.n_eval
