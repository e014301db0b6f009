"""results: the trade-off points and panel, and the x scale of write_figure."""

import struct

from kcontrast import results

# Two temperatures x three pool sizes x two seeds; object falls, digit rises.
RUNS = [
    {"params": {"num_unique_digits": k, "temperature": t, "seed": s},
     "metrics": {"linear/object": 0.8 - 0.1 * i - t / 10 + 0.01 * s,
                 "linear/digit": 0.2 + 0.2 * i + 0.02 * s}}
    for t in (0.1, 0.5) for i, k in enumerate((1, 100, 4000)) for s in (0, 1)
]


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_tradeoff_points_pair_the_two_metrics_per_point_and_line():
    curves = results.tradeoff_points(RUNS, "linear/object", "linear/digit",
                                     "num_unique_digits", "temperature")
    assert sorted(curves) == [0.1, 0.5]
    assert [p[0] for p in curves[0.5]] == [1, 100, 4000]
    k, (ox, osd, on), (dy, dsd, dn) = curves[0.5][2]
    # Seeds 0 and 1: object 0.55 and 0.56, digit 0.6 and 0.62.
    assert (round(ox, 6), round(dy, 6), on, dn) == (0.555, 0.61, 2, 2)
    assert round(osd, 6) == round(0.01 / 2 ** 0.5, 6)
    # Without lines, one curve; a point lacking a metric is left out.
    runs = RUNS[:2] + [{"params": {"num_unique_digits": 7, "temperature": 0.1, "seed": 0},
                        "metrics": {"linear/object": 0.5}}]
    curves = results.tradeoff_points(runs, "linear/object", "linear/digit", "num_unique_digits")
    assert list(curves) == [None] and [p[0] for p in curves[None]] == [1]


def test_figure_with_a_tradeoff_panel_and_log_x(tmp_path):
    plain, traded = tmp_path / "plain.png", tmp_path / "traded.png"
    figure = {"x": "num_unique_digits", "lines": "temperature",
              "y": ("linear/object", "linear/digit"), "title": "toy"}
    results.write_figure(str(plain), RUNS, **figure)
    results.write_figure(str(traded), RUNS, xscale="log",
                         tradeoff={"x": "linear/object", "y": "linear/digit",
                                   "xlabel": "object", "ylabel": "digit"}, **figure)
    (w1, h1), (w2, h2) = _png_size(plain), _png_size(traded)
    assert h1 == h2 and w2 == w1 * 3 // 2   # a third panel, 5 inches at 120 dpi each


def test_legend_orders_numbers_by_value_and_none_last():
    keys = [1000, None, 256, 128, "b", "a"]
    assert sorted(keys, key=results._legend_order) == [128, 256, 1000, "a", "b", None]


def test_integer_axes_get_integer_ticks():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (few, many, real, logx) = plt.subplots(1, 4)
    few.plot([0, 5, 10, 15, 20], [0] * 5)
    results._integer_ticks(few, [0, 5, 10, 15, 20])
    assert list(few.get_xticks()) == [0, 5, 10, 15, 20]
    many.plot(range(0, 3), [0] * 3)
    results._integer_ticks(many, list(range(12)))
    assert all(float(t).is_integer() for t in many.get_xticks())
    real.plot([0.05, 0.1, 0.2], [0] * 3)
    before = list(real.get_xticks())
    results._integer_ticks(real, [0.05, 0.1, 0.2])
    assert list(real.get_xticks()) == before
    logx.plot([1, 10, 100, 1000], [0] * 4)
    logx.set_xscale("log")
    results._integer_ticks(logx, [1, 10, 100, 1000])
    assert list(logx.get_xticks()) == [1, 10, 100, 1000]
    plt.close(fig)
