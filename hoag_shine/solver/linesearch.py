"""Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6).

The bracketing phase lengthens the step by a factor 4 until it brackets a
point satisfying the strong Wolfe conditions; the zoom phase then shrinks
the bracket by safeguarded interpolation:

* a step whose value or slope is not finite (overflow far along ``d``) only
  tells that the step is too long: the bracket is cut towards its good end,
  by a factor 10 first and by a factor squaring at every further non-finite
  trial, so that a region of finite values of any size is reached in a few
  evaluations; once a finite point lies decades below the non-finite end,
  the decades between them are bisected;
* when the quadratic through the good end (value and slope) and the value at
  the other end puts the minimiser in the first tenth of the bracket, the
  first step was far too long (a very steep problem) and that quadratic is
  used: unlike the cubic, it does not lose the small slope at the good end
  to cancellation against the huge value at the other end, so one trial
  reaches the right scale whatever the curvature;
* otherwise the cubic interpolating both ends (values and slopes) is used,
  the quadratic or bisection when the cubic has no minimiser inside;
* when two trials have not shrunk the bracket to two thirds of its width,
  the next trial bisects it (the safeguard of Moré and Thuente, 1994), so the
  bracket always shrinks geometrically.

Close to a minimiser, differences of function values drown in rounding
errors and the sufficient-decrease test becomes unreliable. A trial step whose
value is within rounding of the starting value is then judged by its slope
instead (the approximate Wolfe condition of Hager and Zhang, 2005).
"""
import numpy as np

# relative size of the rounding band around f(x) used by the approximate test
_F_NOISE = 1e-10
# expansion factor of the bracketing phase
_EXPAND = 4.0
# first cut of a bracket whose far end is not finite
_CUT = 0.1
# smallest cut, so that repeated squaring never underflows to 0
_MIN_CUT = 1e-100
# a bracket spanning more decades than this is bisected in log scale
_SPAN = 1e3
# the far-too-long regime: the quadratic minimiser lies in this first fraction
_FAR = 0.1
# relative resolution of the tangent crossing (rounding of the secant slope)
_RESOLUTION = 1e-13
# a bracket must shrink to this fraction of its width in two trials
_SHRINK = 0.66


class _Phi:
    """``phi(t) = f(x + t d)`` with its slope, caching every evaluation."""

    def __init__(self, fun_and_grad, x, d, f0, slope0, c1):
        self.fun_and_grad, self.x, self.d = fun_and_grad, x, d
        self.f0, self.slope0, self.c1 = f0, slope0, c1
        self.f_noise = _F_NOISE * abs(f0)
        self.evals = {}
        self.n_eval = 0

    def __call__(self, t):
        with np.errstate(over="ignore", invalid="ignore"):
            x_t = np.multiply(self.d, t)  # x + t d, with one new vector
            x_t += self.x
        if not np.all(np.isfinite(x_t)):
            # the step leaves the floats: too long, whatever the function
            return np.inf, np.nan
        self.n_eval += 1
        f, g = self.fun_and_grad(x_t)
        with np.errstate(over="ignore", invalid="ignore"):
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
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d1 = da + db - 3.0 * (fa - fb) / (a - b)
        radicand = d1 * d1 - da * db
        if not np.isfinite(radicand) or radicand < 0:
            return None
        d2 = np.copysign(np.sqrt(radicand), b - a)
        denom = db - da + 2.0 * d2
        if denom == 0:
            return None
        t = b - (b - a) * (db + d2 - d1) / denom
    return float(t) if np.isfinite(t) else None


def _quadratic_fraction(f_lo, d_lo, f_hi, width):
    """Position in ``(0, 1)`` of the minimiser of the quadratic through
    ``(a_lo, f_lo, d_lo)`` and ``(a_lo + width, f_hi)``, or None.

    Written as a ratio so that a huge ``f_hi`` gives a tiny fraction instead
    of an overflow.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        descent = -d_lo * width  # > 0: the slope at a_lo points into the bracket
        curvature = f_hi - f_lo + descent
        r = np.float64(descent) / (2.0 * curvature)
    if not (np.isfinite(r) and descent > 0 and curvature > 0 and 0 < r < 1):
        return None
    return float(r)


def _tangent_fraction(f_lo, d_lo, f_hi, d_hi, width):
    """Position in ``(0, 1)`` where the tangents at both ends cross, or None.

    For a convex function this point lies inside the bracket; it is close to
    the good end when the function is nearly linear over most of the bracket
    (a logistic loss far from its kinks), where the quadratic and the cubic
    put their minimisers near the middle instead.
    """
    if width == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        secant = np.float64(f_hi - f_lo) / width
        r = (d_hi - secant) / (d_hi - d_lo)
    if not (np.isfinite(r) and -_RESOLUTION < r < 1):
        return None
    # linear over the whole bracket to rounding: the kink is closer to the
    # good end than the computation resolves, cut by the resolution
    return max(float(r), _RESOLUTION)


class _Bracket:
    """Bracket ``[lo, hi]`` of the zoom phase and the choice of its trial steps.

    ``lo`` is the end of lowest value satisfying sufficient decrease, its
    slope pointing towards ``hi``; ``hi`` may sit on either side of ``lo``.
    """

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi
        self.cut = _CUT
        self.widths = [abs(hi[0] - lo[0])]

    @property
    def width(self):
        return abs(self.hi[0] - self.lo[0])

    def collapsed(self):
        a_lo, a_hi = self.lo[0], self.hi[0]
        return self.width <= 4 * np.finfo(float).eps * max(abs(a_lo), abs(a_hi))

    def trial(self):
        (a_lo, f_lo, d_lo), (a_hi, f_hi, d_hi) = self.lo, self.hi
        width = a_hi - a_lo  # signed
        if not (np.isfinite(f_hi) and np.isfinite(d_hi)):
            if 0 < a_lo and _SPAN * a_lo < a_hi:
                # a finite point far below a non-finite one: bisect the decades
                return self._inside(np.sqrt(a_lo) * np.sqrt(a_hi))
            t = a_lo + self.cut * width
            self.cut = max(self.cut * self.cut, _MIN_CUT)
            return self._inside(t)
        if len(self.widths) >= 3 and self.widths[-1] > _SHRINK * self.widths[-3]:
            return a_lo + 0.5 * width
        r = _quadratic_fraction(f_lo, d_lo, f_hi, width)
        far = [v for v in (r, _tangent_fraction(f_lo, d_lo, f_hi, d_hi, width))
               if v is not None and v < _FAR]
        if far:
            return self._inside(a_lo + min(far) * width)
        t = _cubic_min(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi)
        if t is not None and self._strictly_inside(t):
            return t
        if r is not None:
            return self._inside(a_lo + r * width)
        return a_lo + 0.5 * width

    def _strictly_inside(self, t):
        low, high = sorted((self.lo[0], self.hi[0]))
        return low < t < high

    def _inside(self, t):
        return t if self._strictly_inside(t) else 0.5 * (self.lo[0] + self.hi[0])

    def update(self, point, phi, c2):
        """Shrink the bracket with a new point; return True when it is acceptable."""
        t, f_t, d_t = point
        if np.isfinite(f_t) and np.isfinite(d_t):
            self.cut = _CUT  # the fast cut is for runs of non-finite trials only
        if _worse(phi, t, f_t, d_t, self.lo[1]):
            self.hi = point
        else:
            if abs(d_t) <= -c2 * phi.slope0:
                return True
            if d_t * (self.hi[0] - self.lo[0]) >= 0:
                self.hi = self.lo
            self.lo = point
        self.widths.append(self.width)
        return False


def _worse(phi, t, f_t, d_t, f_ref):
    """The trial step brackets a minimiser from above (N&W's zoom test)."""
    if not phi.sufficient(t, f_t, d_t):
        return True
    return f_t >= f_ref and not phi.noisy(f_t)


def _zoom(phi, lo, hi, c2, max_eval):
    bracket = _Bracket(lo, hi)
    for _ in range(max_eval):
        if bracket.collapsed():
            break
        t = bracket.trial()
        f_t, d_t = phi(t)
        if bracket.update((t, f_t, d_t), phi, c2):
            return t
    # budget exhausted: the low end always satisfies sufficient decrease
    a_lo = bracket.lo[0]
    return a_lo if a_lo > 0 else None


def strong_wolfe(fun_and_grad, x, f0, g0, d, step=1.0, c1=1e-4, c2=0.9,
                 max_eval=30):
    """Find a step along ``d`` satisfying the strong Wolfe conditions.

    Trial steps whose value or gradient is not finite are treated as too
    long and shortened; they never reach the accepted point.

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

    Examples
    --------
    >>> import numpy as np
    >>> from hoag_shine.solver.linesearch import strong_wolfe
    >>> def steep(x):  # curvature 1e12: the first trial step is far too long
    ...     return 0.5e12 * x @ x - x.sum(), 1e12 * x - 1.0
    >>> x, d = np.zeros(2), np.ones(2)
    >>> t, (x_t, f_t, g_t), n_eval = strong_wolfe(steep, x, 0.0, -d, d)
    >>> bool(np.isclose(t, 1e-12)), n_eval
    (True, 2)
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
        t *= _EXPAND
    else:
        accepted = prev[0] if prev[0] > 0 else None
    if accepted is None:
        return None, None, phi.n_eval
    return accepted, phi.evals[accepted], phi.n_eval
