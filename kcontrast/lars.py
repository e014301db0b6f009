"""LARS: SGD with momentum and a layer-wise trust ratio (You et al., 2017).

The optimizer of SimCLR and of the paper's large-batch runs. Keras 3 has no
LARS and optax's is JAX-only, so this one is written on the public
``keras.optimizers.Optimizer`` API with ``keras.ops``: it runs on TensorFlow,
JAX and PyTorch alike. One step, for each variable w with gradient g::

    g     = g + weight_decay * w                 (adapted variables only)
    trust = eta * ||w|| / ||g||    if ||w|| > 0 and ||g|| > 0, else 1
            (1 for variables that are not adapted)
    v     = momentum * v + learning_rate * trust * g
    w     = w - v

as in SimCLR's ``LARSOptimizer`` (non-Nesterov). Adapted variables are
those of rank >= 2 (kernels); biases and BatchNorm gammas and betas (rank
1) get neither weight decay nor the trust ratio, SimCLR's exclusion of
"batch_normalization" and "bias" by name, done here by shape so that it does
not depend on layer names. kcontrast's models put their L2 penalty in the
loss already (``model.weight_decay``), so ``weight_decay`` defaults to 0.

>>> opt = LARS(learning_rate=4.8, momentum=0.9)
>>> model.compile(optimizer=opt)  # doctest: +SKIP
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kcontrast")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise adaptive rate scaling with momentum (see the module docstring).

    Args:
        learning_rate: float or a ``keras.optimizers.schedules`` schedule.
        momentum: float in [0, 1).
        eta: trust coefficient, > 0 (SimCLR: 0.001).
        weight_decay: decoupled L2 factor added to the gradients of adapted
            variables, >= 0.
        epsilon: added to ``||g||`` in the trust ratio's denominator.
        name: optimizer name.
        **kwargs: other ``keras.optimizers.Optimizer`` arguments (clipnorm,
            ...; not ``weight_decay``, handled above).
    """

    def __init__(self, learning_rate=0.3, momentum=0.9, eta=0.001, weight_decay=0.0,
                 epsilon=0.0, name="lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        checks = (("momentum", momentum, lambda x: 0 <= x < 1), ("eta", eta, lambda x: x > 0),
                  ("weight_decay", weight_decay, lambda x: x >= 0),
                  ("epsilon", epsilon, lambda x: x >= 0))
        for arg, value, ok in checks:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok(value):
                raise ValueError(f"Expected {arg} in LARS' range (momentum in [0, 1), eta > 0, "
                                 f"weight_decay >= 0, epsilon >= 0); Received: {arg}={value!r}")
        self.momentum = float(momentum)
        self.eta = float(eta)
        self.lars_weight_decay = float(weight_decay)
        self.epsilon = float(epsilon)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = self.add_optimizer_variables(variables, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        v = self.velocities[self._get_variable_index(variable)]
        if len(variable.shape) >= 2:
            if self.lars_weight_decay:
                g = ops.add(g, ops.multiply(self.lars_weight_decay, variable))
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(g)))
            ratio = ops.divide(ops.multiply(self.eta, w_norm), ops.add(g_norm, self.epsilon))
            positive = ops.logical_and(ops.greater(w_norm, 0.0), ops.greater(g_norm, 0.0))
            trust = ops.where(positive, ratio, ops.ones_like(ratio))
            lr = ops.multiply(lr, trust)
        self.assign(v, ops.add(ops.multiply(self.momentum, v), ops.multiply(lr, g)))
        self.assign_sub(variable, v)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "eta": self.eta,
                       "weight_decay": self.lars_weight_decay, "epsilon": self.epsilon})
        return config
