"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR."""

import keras
from keras import ops

from kcontrast import checks
from kcontrast.losses import ifm
from kcontrast.losses.base import ContrastiveLoss
from kcontrast.losses.base import apply_gather
from kcontrast.losses.base import l2_normalize
from kcontrast.losses.base import to_float32

FORMS = ("simclr", "cross_view", "companion")

# Replaces masked logits (self-similarities). Finite, unlike -inf, so no
# 0 * inf or inf - inf can appear in a value or gradient; exp(-1e9 - max) is
# exactly 0 in float32 for any temperature >= 1e-7.
LARGE_NUM = 1e9


def _self_mask(n, offset, num_cols):
    """Boolean `[n, num_cols]`, True at column `offset + i` of local row i."""
    rows = ops.arange(n, dtype="int32") + ops.cast(offset, "int32")
    cols = ops.arange(num_cols, dtype="int32")
    return ops.equal(ops.expand_dims(rows, 1), ops.expand_dims(cols, 0))


def _cross_entropy(logits, target, positive, epsilon_t, weight):
    """Per-row `[m]` softmax cross-entropy of rows `logits` `[m, M]` against the
    positive logit `target` `[m]`; with IFM (`epsilon_t` = eps / t > 0) the
    mix of that and the cross-entropy with the positive logit lowered and
    every other logit raised by eps / t. `positive`: a callable returning
    the boolean `[m, M]` mask of the positive entries (built only for IFM).
    Masked self logits (-LARGE_NUM) stay at exp(.) = 0 when raised."""
    standard = ops.logsumexp(logits, axis=-1) - target
    if epsilon_t == 0.0 or weight == 0.0:
        return standard
    mask = positive()
    raised = ifm.perturb(logits, mask, ops.logical_not(mask), epsilon_t)
    perturbed = ops.logsumexp(raised, axis=-1) - (target - epsilon_t)
    return ifm.mix(standard, perturbed, weight)


def nt_xent(z1, z2, temperature=0.2, form="simclr", z1_all=None,
            z2_all=None, offset=0, ifm_epsilon=0.0, ifm_weight=0.5):
    """NT-Xent loss between the projections of two views: the scalar mean
    of `nt_xent_values` (same arguments), i.e. the loss of the formulas in
    `nt_xent_values`.

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    >>> float(nt_xent(z, z, 1.0)) < float(nt_xent(z, -z, 1.0))
    True
    """
    return ops.mean(nt_xent_values(z1, z2, temperature, form, z1_all, z2_all,
                                   offset, ifm_epsilon, ifm_weight))


def nt_xent_values(z1, z2, temperature=0.2, form="simclr", z1_all=None,
                   z2_all=None, offset=0, ifm_epsilon=0.0, ifm_weight=0.5):
    """NT-Xent per anchor view, `[n, 2]`: entry `[i, v]` is the term of
    anchor view v (0: z1, 1: z2) of example i; its mean is the loss.

    Per-anchor terms: "simclr" and "cross_view": the anchor's
    cross-entropy (the two forms give the same entries); "companion": twice
    the anchor's cross-entropy against the other view (the companion sums
    its two directions, so the mean over the 2n entries is that sum).

    SimCLR form. With h = l2_normalize(z), H = [h1; h2] (2n rows) and the
    partner p(i) = (i + n) mod 2n of row i:

    ```
    loss = 1/(2n) sum_i [ log sum_{k != i} exp(H_i . H_k / t)
                          - H_i . H_p(i) / t ]
    ```

    i.e. the mean over the 2n anchors of the cross-entropy over the 2n - 1
    other views (self masked out) with logits cos-sim / t.

    Cross-view form (google-research/simclr `add_contrastive_loss`): for
    view a, the logits are `[h1 h2^T / t, h1 h1^T / t]` (n x 2n) with the
    diagonal of the second block set to -LARGE, the labels the diagonal of
    the first block; likewise for view b with h1 and h2 swapped; the loss
    is the mean of the a->b and b->a cross-entropies. Row i of view a
    holds exactly the logits of anchor i in the SimCLR form (its partner,
    the n - 1 other rows of view b and the n - 1 other rows of view a), so
    both forms are equal; they differ only in the order of the
    computation. Note that the
    google-research code returns the *sum* loss_a + loss_b, twice this
    value; we use the mean so that the two forms coincide.

    `keras_cv.losses.SimCLRLoss(t)(z1, z2)` is the cross-view form with the
    sum, i.e. exactly 2 x this loss, with one more difference: it
    normalizes with x / sqrt(max(|x|^2, 1e-7)), so rows with |x|^2 < 1e-7
    are not scaled to unit norm there (here: x / sqrt(|x|^2 + 1e-12)).

    Companion form (the RandBits notebook of the paper's companion code):
    only the n x n cross-view logits `L = h1 h2^T / t` (no same-view
    negatives), a softmax cross-entropy with the diagonal as targets in
    both directions, each averaged over the n rows, and the two directions
    summed:

    ```
    loss = 1/n sum_i [ log sum_k exp(L_ik) - L_ii ]      # view 1 -> view 2
         + 1/n sum_i [ log sum_k exp(L_ki) - L_ii ]      # view 2 -> view 1
    ```

    Relation to the other forms: for row i of view a (likewise b) the
    cross-view form also has the n - 1 same-view logits
    `S_ik = h1_i . h1_k / t` (k != i) in its log-sum-exp, so, exactly,

    ```
    2 * cross_view - companion
        = 1/n sum_i log(1 + sum_{k != i} exp(S1_ik) / sum_k exp(L_ik))
        + 1/n sum_i log(1 + sum_{k != i} exp(S2_ik) / sum_k exp(L_ki))  > 0
    ```

    a factor 2 (sum of the directions instead of their mean) and a
    positive, data-dependent term (the same-view negatives), not a
    constant. The companion form is twice the symmetric InfoNCE of CLIP
    (which averages the two directions).

    Global negatives (scale-out): `z1_all`, `z2_all` ([N, d]) are the
    projections of every replica concatenated along the batch, and
    `offset` is the row of this replica's first example in them. The
    anchors stay local (the n rows of z1, z2); the negatives are all 2N
    gathered views (companion form: all N gathered rows of the other view).
    With `z1_all = z1`, `z2_all = z2`, `offset = 0` (the
    default) this is the single-device loss.

    Implicit feature modification (IFM, Robinson et al. 2021, arXiv
    2106.11230; see `kcontrast.losses.ifm`): with `ifm_epsilon` = eps > 0
    every anchor's cross-entropy is also computed with its positive cosine
    lowered by eps and every negative cosine raised by eps (before the
    division by t), and the loss is

    ```
    loss = (1 - w) * loss(eps = 0) + w * loss(eps),    w = ifm_weight
    ```

    in every form (the "negatives" being that form's other logits).
    eps = 0 or w = 0 is the standard loss.

    Args:
        z1, z2: `[n, d]` projections of the two views, n >= 2.
        temperature: t > 0.
        form: `"simclr"`, `"cross_view"` or `"companion"`.
        z1_all, z2_all: optional `[N, d]` gathered projections.
        offset: int or scalar tensor, position of the local rows in the
            gathered ones.
        ifm_epsilon: IFM's eps >= 0 (0: off).
        ifm_weight: IFM's w in [0, 1], the perturbed loss's share.

    Returns:
        `[n, 2]` float32.

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    >>> tuple(nt_xent_values(z, z, 1.0).shape)
    (4, 2)
    """
    temperature = checks.check_positive(temperature, "temperature")
    checks.check_choice(form, FORMS, "form")
    checks.check_views(z1, z2)
    eps, weight = ifm.check_ifm(ifm_epsilon, ifm_weight)
    h1 = l2_normalize(z1)
    h2 = l2_normalize(z2)
    if z1_all is None and z2_all is None:
        a1, a2, offset = h1, h2, 0
    else:
        if z1_all is None or z2_all is None:
            raise ValueError(
                "Expected both `z1_all` and `z2_all` or neither; Received: "
                f"z1_all={'None' if z1_all is None else 'array'}, "
                f"z2_all={'None' if z2_all is None else 'array'}"
            )
        checks.check_views(z1_all, z2_all, ("z1_all", "z2_all"))
        a1 = l2_normalize(z1_all)
        a2 = l2_normalize(z2_all)
    n = ops.shape(h1)[0]
    big_n = ops.shape(a1)[0]
    inv_t = 1.0 / temperature
    eps_t = eps * inv_t

    if form == "simclr":
        h = ops.concatenate([h1, h2], axis=0)
        a = ops.concatenate([a1, a2], axis=0)
        logits = ops.matmul(h, ops.transpose(a)) * inv_t
        mask = ops.concatenate(
            [_self_mask(n, offset, 2 * big_n),
             _self_mask(n, big_n + offset, 2 * big_n)], axis=0)
        logits = ops.where(mask, -LARGE_NUM, logits)
        pos = ops.sum(h1 * h2, axis=-1) * inv_t
        pos = ops.concatenate([pos, pos], axis=0)
        rows = _cross_entropy(
            logits, pos,
            lambda: ops.concatenate(
                [_self_mask(n, big_n + offset, 2 * big_n),
                 _self_mask(n, offset, 2 * big_n)], axis=0),
            eps_t, weight)
        return ops.stack([rows[:n], rows[n:]], axis=1)

    labels = ops.expand_dims(ops.arange(n) + ops.cast(offset, "int32"), 1)
    if form == "companion":
        def cross_entropy(ha, ab):
            logits = ops.matmul(ha, ops.transpose(ab)) * inv_t
            target = ops.take_along_axis(logits, labels, axis=1)[:, 0]
            return _cross_entropy(
                logits, target, lambda: _self_mask(n, offset, big_n),
                eps_t, weight)

        # Column i of L = h1 a2^T / t is row i of h2 a1^T / t.
        return 2.0 * ops.stack([cross_entropy(h1, a2), cross_entropy(h2, a1)],
                               axis=1)

    # cross_view
    mask = _self_mask(n, offset, big_n)

    def one_direction(ha, aa, ab):
        logits_ab = ops.matmul(ha, ops.transpose(ab)) * inv_t
        logits_aa = ops.matmul(ha, ops.transpose(aa)) * inv_t
        logits_aa = ops.where(mask, -LARGE_NUM, logits_aa)
        logits = ops.concatenate([logits_ab, logits_aa], axis=1)
        target = ops.take_along_axis(logits_ab, labels, axis=1)[:, 0]
        return _cross_entropy(
            logits, target,
            lambda: ops.concatenate(
                [mask, ops.zeros((n, big_n), "bool")], axis=1),
            eps_t, weight)

    return ops.stack([one_direction(h1, a1, a2), one_direction(h2, a2, a1)],
                     axis=1)


@keras.saving.register_keras_serializable(package="kcontrast")
class NTXent(ContrastiveLoss):
    """NT-Xent loss (SimCLR), as a Keras loss called as `loss(z1, z2)`.

    See `nt_xent` for the formula of both forms and their equivalence.

    Args:
        temperature: t > 0 (paper default 0.2).
        form: `"simclr"` (mean over the 2n anchors of a (2n-1)-way
            cross-entropy) or `"cross_view"` (the google-research/simclr
            layout, mean of the a->b and b->a losses), equal in value; or
            `"companion"` (the companion RandBits notebook: n x n
            cross-view logits only, the a->b and b->a losses summed; see
            `nt_xent` for its exact relation to the others).
        ifm_epsilon: eps >= 0 of implicit feature modification (Robinson
            et al. 2021): positive cosines lowered and negative cosines
            raised by eps before dividing by t (0, the default: off).
        ifm_weight: w in [0, 1]; the loss is (1 - w) * standard + w *
            perturbed (default 0.5, the paper's equal weighting).
        gather: where the negatives come from (see
            `kcontrast.losses.base`): `"auto"` (default) the global batch
            under a multi-replica `tf.distribute` strategy, else the local
            one; None the local batch; or a callable
            `gather(z) -> (z_all, offset)`. Not part of `get_config`.
        name, reduction, dtype: as for `keras.losses.Loss`; the loss is
            always computed in float32.

    Call args:
        z1, z2: `[n, d]` projections of the two views (`y_true`, `y_pred`
            positions), n >= 2.
        sample_weight: optional `[n]` (one weight per example, for both of
            its anchor views) or `[n, 2]` (one per anchor view).

    Returns:
        The per-anchor values `nt_xent_values` `[n, 2]`, times
        `sample_weight`, reduced by `reduction`: `"sum_over_batch_size"`
        (default) their sum / 2n (unweighted: the mean, the paper's loss),
        `"sum"` their sum, `"none"` the `[n, 2]` values. As for every Keras
        loss, a reduced value is divided by the replica count under a
        multi-replica `tf.distribute` strategy (`ContrastiveModel` reduces
        the values itself and logs the unscaled loss).

    >>> import numpy as np
    >>> z1 = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> loss = NTXent(temperature=0.2)
    >>> float(loss(z1, z1)) > 0
    True
    """

    def __init__(self, temperature=0.2, form="simclr", ifm_epsilon=0.0,
                 ifm_weight=0.5, gather="auto", name="nt_xent",
                 reduction="sum_over_batch_size", dtype="float32"):
        super().__init__(gather=gather, name=name, reduction=reduction,
                         dtype=dtype)
        self.temperature = checks.check_positive(temperature, "temperature")
        self.form = checks.check_choice(form, FORMS, "form")
        self.ifm_epsilon, self.ifm_weight = ifm.check_ifm(ifm_epsilon,
                                                          ifm_weight)

    def call(self, y_true, y_pred):
        """The per-anchor values `[n, 2]` (see `nt_xent_values`)."""
        z1, z2 = to_float32(y_true), to_float32(y_pred)
        z1_all, z2_all, offset = apply_gather(self.gather, z1, z2)
        return nt_xent_values(z1, z2, self.temperature, self.form, z1_all, z2_all,
                       offset, self.ifm_epsilon, self.ifm_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "form": self.form,
                       "ifm_epsilon": self.ifm_epsilon,
                       "ifm_weight": self.ifm_weight})
        return config
