"""L-BFGS: exact minimum of a quadratic, Rosenbrock, callback stop."""

import numpy as np

from kcontrast.evaluation.lbfgs import minimize_lbfgs


def test_ill_conditioned_quadratic_reaches_the_solution():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    a = q @ np.diag(np.logspace(0, 4, 20)) @ q.T      # condition number 1e4
    b = rng.normal(size=20)

    def f_and_grad(x):
        return 0.5 * x @ a @ x - b @ x, a @ x - b

    x, _, iterations = minimize_lbfgs(f_and_grad, np.zeros(20), gtol=1e-9,
                                      ftol=0.0, max_iter=2000)
    # The line search decides on values of f, whose float64 rounding error is
    # about eps * sum|x_i a_ij x_j| ~ 1e-13 here (that sum is ~4e3). Along the
    # weakest direction (eigenvalue 1) an error e in x raises f by only e^2 / 2,
    # so no f-based method resolves e below ~sqrt(2e-13) ~ 5e-7: atol 1e-6.
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-5, atol=1e-6)
    assert iterations < 2000


def test_rosenbrock():
    def f_and_grad(x):
        f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                      200 * (x[1] - x[0] ** 2)])
        return f, g

    x, f, _ = minimize_lbfgs(f_and_grad, np.array([-1.2, 1.0]), gtol=1e-8, ftol=0.0)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-5)


def test_callback_stops():
    seen = []
    minimize_lbfgs(lambda x: (float(x @ x), 2 * x), np.ones(3) * 5,
                   callback=lambda x, f: seen.append(f) or len(seen) == 2)
    assert len(seen) == 2
