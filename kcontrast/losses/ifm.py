"""Implicit feature modification (IFM) for the NT-Xent losses.

Robinson et al., "Can contrastive learning avoid shortcut solutions?",
NeurIPS 2021 (arXiv 2106.11230). IFM perturbs the similarities adversarially
in closed form: every positive pair's cosine similarity is lowered by
epsilon and every negative's raised by epsilon before the division by the
temperature, which makes instance discrimination harder along the features
the encoder already relies on. The loss is then the weighted mean

```
loss = (1 - w) * L(eps = 0) + w * L(eps),        0 <= w <= 1, eps >= 0
```

of the standard loss and the perturbed one (the paper's "L + alpha L_eps"
with equal weights is w = 1/2, up to a factor 2). Self-similarities (the
row itself, masked in NT-Xent, kept in decoupled NT-Xent's logsumexp) are
not a pair and stay unperturbed.
"""

from keras import ops

from kcontrast import checks


def check_ifm(epsilon, weight):
    """Checks ``ifm_epsilon >= 0`` and ``ifm_weight`` in [0, 1]; returns
    them as floats.

    >>> check_ifm(0.1, 0.5)
    (0.1, 0.5)
    """
    epsilon = checks.check_non_negative(epsilon, "ifm_epsilon")
    weight = checks.check_in_range(weight, "ifm_weight", low=0, high=1)
    return epsilon, weight


def perturb(scores, positive, negative, epsilon):
    """Cosine similarities with IFM's perturbation, before the temperature.

    Args:
        scores: `[m, M]` cosine similarities.
        positive, negative: boolean `[m, M]` masks of the positive pairs and
            of the negatives (entries in neither, e.g. self, are kept).
        epsilon: eps >= 0.

    Returns:
        `scores - eps * positive + eps * negative`, same shape.
    """
    shift = (ops.cast(negative, scores.dtype) - ops.cast(positive, scores.dtype))
    return scores + epsilon * shift


def mix(standard, perturbed, weight):
    """``(1 - w) * standard + w * perturbed``."""
    return (1.0 - weight) * standard + weight * perturbed
