"""Limited-memory BFGS with a backtracking (Armijo) line search.

Minimizes a smooth function f: R^n -> R given `f_and_grad(x) -> (f, g)`.
Each iteration:

    d = -H g               H: inverse-Hessian estimate from the last m pairs
                           (s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k),
                           applied by the two-loop recursion, scaled by
                           gamma = s.y / y.y of the newest pair
    t = 1, 1/2, 1/4, ...   until f(x + t d) <= f(x) + c1 t g.d     (Armijo)
    x <- x + t d

A pair is kept only when s.y > 0 (curvature), so H stays positive definite.
Stops when max|g| <= gtol, the relative decrease of f falls below ftol, the
line search fails, `max_iter` is reached, or `callback(x, f)` returns True.
Vectors are float64 numpy arrays; `f_and_grad` may compute in any precision.
"""

import collections

import numpy as np


def minimize_lbfgs(f_and_grad, x0, max_iter=500, memory=10, gtol=1e-5, ftol=1e-10,
                   c1=1e-4, max_halvings=30, callback=None):
    """Runs L-BFGS from `x0`; returns `(x, f, iterations)`.

    Args:
        f_and_grad: `x [n] -> (float, [n])`.
        x0: float `[n]` start.
        max_iter: iterations at most.
        memory: m, the (s, y) pairs kept.
        gtol, ftol: stopping tolerances (see the module docstring).
        c1: Armijo constant.
        max_halvings: line-search step halvings before giving up.
        callback: `fn(x, f) -> bool` after each iteration; True stops.

    >>> a = np.array([1.0, 10.0])
    >>> x, f, _ = minimize_lbfgs(lambda x: (0.5 * np.sum(a * x * x), a * x), np.ones(2))
    >>> bool(np.allclose(x, 0, atol=1e-4))
    True
    """
    x = np.asarray(x0, np.float64).copy()
    f, g = f_and_grad(x)
    g = np.asarray(g, np.float64)
    pairs = collections.deque(maxlen=memory)
    iterations = 0
    for iterations in range(1, max_iter + 1):
        if np.max(np.abs(g)) <= gtol:
            break
        # Two-loop recursion: d = -H g.
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(pairs):
            alpha = rho * np.dot(s, q)
            q -= alpha * y
            alphas.append(alpha)
        if pairs:
            s, y, _ = pairs[-1]
            q *= np.dot(s, y) / np.dot(y, y)
        else:
            q /= max(np.linalg.norm(g), 1e-12)  # first step of length 1
        for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
            beta = rho * np.dot(y, q)
            q += (alpha - beta) * s
        direction = -q
        slope = np.dot(g, direction)
        if slope >= 0:  # not a descent direction: restart from -g
            pairs.clear()
            direction = -g / max(np.linalg.norm(g), 1e-12)
            slope = np.dot(g, direction)
        step = 1.0
        for _ in range(max_halvings):
            x_new = x + step * direction
            f_new, g_new = f_and_grad(x_new)
            if np.isfinite(f_new) and f_new <= f + c1 * step * slope:
                break
            step *= 0.5
        else:
            break  # no decrease found: at the optimum up to precision
        g_new = np.asarray(g_new, np.float64)
        s, y = x_new - x, g_new - g
        sy = np.dot(s, y)
        if sy > 1e-12 * np.dot(y, y):
            pairs.append((s, y, 1.0 / sy))
        decrease = f - f_new
        x, f, g = x_new, f_new, g_new
        if callback is not None and callback(x, f):
            break
        if decrease <= ftol * max(abs(f), 1.0):
            break
    return x, f, iterations
