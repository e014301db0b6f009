"""Scale-out: distribution strategies and the cross-replica gather.

One name picks how training is spread over devices::

    none                    one device (every backend)
    mirrored                tf.distribute.MirroredStrategy: the GPUs of one host
    multi_worker_mirrored   tf.distribute.MultiWorkerMirroredStrategy: several
                            hosts, each described by its TF_CONFIG
    tpu                     tf.distribute.TPUStrategy (a TPU VM or pod slice)
    data_parallel           keras.distribution.DataParallel (JAX): every local
                            device, and several hosts after
                            keras.distribution.initialize()

``get_strategy(name)`` returns a ``Strategy``; build, compile and fit the
model inside ``strategy.scope()`` after ``strategy.prepare_model(model)``::

    strategy = get_strategy("mirrored")
    strategy.check_batch_size(batch_size)       # global batch, divisible
    with strategy.scope():
        model = ContrastiveModel(encoder, head, loss=NTXent(0.2))
        strategy.prepare_model(model)            # gather + synchronized BN
        model.compile(optimizer="adam")
        model.fit(dataset_of_global_batches, epochs=...)

The batch size is *global*: each of the N replicas gets ``batch / N``
examples of every batch (Keras splits the dataset's batches).

What each backend does with the contrastive batch:

- TensorFlow (``mirrored``, ``multi_worker_mirrored``, ``tpu``): every
  replica runs ``train_step`` on its own shard. ``prepare_model`` gives the
  contrastive loss ``replica_gather`` as its ``gather`` hook: each replica's
  projections are all-gathered, the local rows stay the anchors and the
  global batch gives the negatives; positives are found at ``offset`` =
  the number of rows held by lower replica ids. ``ReplicaContext.all_gather``
  differentiates as "all-reduce (sum) the upstream gradient, keep this
  replica's slice", so every replica's local projections receive the
  gradient of every replica's loss. The TensorFlow train step divides the
  loss by N before the gradient (the optimizer sums the replicas'
  gradients), so the update is that of the global-batch mean loss.
  ``prepare_model`` also sets ``synchronized=True`` on every
  BatchNormalization (statistics over the global batch, as one device
  would compute them); ``sync_batch_norm=False`` keeps per-replica
  statistics. Metrics are ``keras.metrics.Mean`` trackers whose variables
  sum over replicas, so every logged value is the mean over replicas of
  per-replica values computed against the global batch.
- JAX (``data_parallel``): Keras jits the train step over *global* arrays
  sharded along the batch (SPMD). ``compute_step`` therefore already sees
  the whole batch: the loss's negatives, the SWD sort and every
  BatchNormalization's moments are over the global batch, and XLA inserts
  the collectives. No gather is needed (the hook stays None) and no loss
  scaling: the mean is already global.
- PyTorch: single device only.

>>> get_strategy("none").num_replicas
1
"""

import contextlib
import os

import keras

from kcontrast import checks

STRATEGIES = ("none", "mirrored", "multi_worker_mirrored", "tpu", "data_parallel")
# The backend each strategy runs on (None: every backend).
STRATEGY_BACKENDS = {"none": None, "mirrored": "tensorflow",
                     "multi_worker_mirrored": "tensorflow", "tpu": "tensorflow",
                     "data_parallel": "jax"}


def supported_strategies(backend):
    """The strategy names that run on ``backend``, ``"none"`` first."""
    return [s for s, b in STRATEGY_BACKENDS.items() if b in (None, backend)]


def check_strategy(name, backend=None):
    """Checks a strategy name against the (active) Keras backend.

    Returns the name; raises ``ValueError`` (one line) for an unknown
    strategy or one the backend cannot run.

    >>> check_strategy("none", "torch")
    'none'
    """
    backend = backend or keras.backend.backend()
    checks.check_choice(name, STRATEGIES, "strategy")
    wanted = STRATEGY_BACKENDS[name]
    if wanted is not None and wanted != backend:
        raise ValueError(
            f"Expected a strategy the {backend} backend supports, one of "
            f"{supported_strategies(backend)}; Received: strategy={name!r} "
            f"(a {wanted} strategy)")
    return name


def replica_gather(z):
    """The TensorFlow cross-replica gather hook: ``z [n, d] -> (z_all, offset)``.

    In a ``tf.distribute`` replica context with N > 1 replicas, ``z_all`` is
    ``[sum_r n_r, d]``, every replica's rows in replica-id order, and
    ``offset`` the number of rows of the replicas with lower ids (a scalar
    int32 tensor). Gradients flow back to each replica's own rows: the
    gradient of ``all_gather`` sums the upstream gradients over the
    replicas and slices out this replica's rows. Anywhere else (no
    strategy, one replica, cross-replica context) it returns ``(z, 0)``,
    the single-device loss. Shard sizes may differ (a last, uneven batch).
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return z, 0
    z_all = context.all_gather(z, axis=0)
    sizes = context.all_gather(tf.reshape(tf.shape(z)[0], [1]), axis=0)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    offset = tf.reduce_sum(sizes[:replica])
    return z_all, offset


def batch_norm_layers(model):
    """Every ``BatchNormalization`` layer of ``model``, nested models included."""
    found, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        for child in getattr(layer, "layers", None) or ():
            visit(child)

    visit(model)
    for attr in ("encoder", "head"):
        if getattr(model, attr, None) is not None:
            visit(getattr(model, attr))
    return found


def synchronize_batch_norm(model, synchronized=True):
    """Sets ``synchronized`` on every BatchNormalization of ``model``.

    TensorFlow only: in a replica context a synchronized layer all-reduces
    its sums, so training-mode moments are those of the global batch (Keras
    reads the attribute at call time, and ``get_config`` records it). Off a
    strategy it computes ordinary moments. Returns the number of layers.

    Raises:
        ValueError: ``synchronized=True`` on a backend other than TensorFlow
            (JAX SPMD computes global moments without it).
    """
    if synchronized and keras.backend.backend() != "tensorflow":
        raise ValueError(
            "Expected the tensorflow backend for synchronized BatchNorm (JAX "
            "data_parallel already normalizes over the global batch); "
            f"Received: backend={keras.backend.backend()!r}")
    layers = batch_norm_layers(model)
    for layer in layers:
        layer.synchronized = bool(synchronized)
    return len(layers)


class Strategy:
    """A chosen distribution: its name, replicas and ``scope()``.

    Attributes:
        name: one of ``STRATEGIES``.
        num_replicas: replicas in sync (all hosts; 1 for ``none``).
        native: the ``tf.distribute.Strategy``, the
            ``keras.distribution.DataParallel``, or None.
    """

    def __init__(self, name, native=None, num_replicas=1):
        self.name = name
        self.native = native
        self.num_replicas = int(num_replicas)

    @property
    def backend(self):
        return STRATEGY_BACKENDS[self.name]

    def __repr__(self):
        return f"Strategy({self.name!r}, num_replicas={self.num_replicas})"

    def describe(self):
        """A JSON-able record: ``{"name", "num_replicas"}``."""
        return {"name": self.name, "num_replicas": self.num_replicas}

    @contextlib.contextmanager
    def scope(self):
        """Context for building, compiling and fitting the model."""
        if self.native is None:
            yield self
        else:
            with self.native.scope():
                yield self

    def check_batch_size(self, batch_size, name="batch_size"):
        """Checks that a global batch divides evenly over the replicas."""
        batch_size = checks.check_positive_int(batch_size, name)
        if batch_size % self.num_replicas:
            raise ValueError(
                f"Expected {name} divisible by the {self.num_replicas} replicas of "
                f"strategy {self.name!r} (it is global); Received: {name}={batch_size}")
        return batch_size

    def prepare_model(self, model, sync_batch_norm=True):
        """Readies a ``ContrastiveModel`` built in ``scope()``.

        TensorFlow strategies: the loss's ``gather`` hook becomes
        ``replica_gather`` (global negatives) and, with
        ``sync_batch_norm``, every BatchNormalization is synchronized.
        ``none`` and ``data_parallel``: nothing to do (see the module
        docstring). Returns the model.
        """
        if self.backend == "tensorflow":
            loss = getattr(model, "contrastive_loss", None)
            if loss is not None and hasattr(loss, "gather"):
                loss.gather = replica_gather
            synchronize_batch_norm(model, bool(sync_batch_norm))
        return model

    def release_model(self, model):
        """Undoes ``prepare_model``'s BatchNorm flag after training.

        A BatchNormalization saved with ``synchronized=True`` cannot be
        loaded on JAX or PyTorch; in inference mode (moving statistics) the
        flag changes nothing. The gather hook stays (it is not saved, and
        it is the identity off a strategy). Returns the model.
        """
        if self.backend == "tensorflow":
            synchronize_batch_norm(model, False)
        return model


# One tf.distribute strategy per (name, devices, tpu) and process: two
# strategies over the same devices in one process issue clashing collective
# instances (seen as "Shape mismatch in the collective instance" when a
# second MirroredStrategy trains after a first), and a TPU system is
# initialized once.
_TF_STRATEGIES = {}


def _tf_strategy(name, devices, tpu):
    import tensorflow as tf

    if name == "mirrored" and devices is None:
        # Every GPU; without GPUs, every logical CPU device (one on a plain
        # host; several when simulated, as in the tests).
        found = (tf.config.list_logical_devices("GPU")
                 or tf.config.list_logical_devices("CPU"))
        devices = [d.name for d in found]
    key = (name, tuple(devices) if devices is not None else None, tpu)
    if key not in _TF_STRATEGIES:
        _TF_STRATEGIES[key] = _new_tf_strategy(name, devices, tpu)
    return _TF_STRATEGIES[key]


def _new_tf_strategy(name, devices, tpu):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(
            "Expected a reachable TPU for strategy 'tpu' (a TPU VM, or "
            f"tpu=<name or grpc address>); Received: tpu={tpu!r} "
            f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def _multi_host_env():
    return bool(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
                or os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"))


def get_strategy(name="none", devices=None, tpu=None):
    """Creates the strategy ``name`` for the active Keras backend.

    Args:
        name: one of ``STRATEGIES``.
        devices: ``mirrored``: TensorFlow device names (default: every GPU,
            or without GPUs every logical CPU device); ``data_parallel``: ``keras.distribution`` device
            names (default: every device of every host).
        tpu: ``tpu``: the TPU name or grpc address (default: the local TPU
            VM).

    ``data_parallel`` first calls ``keras.distribution.initialize()`` when
    ``KERAS_DISTRIBUTION_NUM_PROCESSES`` or
    ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` is set (multi-host JAX); each
    host then runs the same command and reads its share of each global
    batch.

    TensorFlow strategies are created once per process and arguments, and
    shared by later calls (see ``_TF_STRATEGIES``).

    Returns:
        a ``Strategy``.

    Raises:
        ValueError: an unknown strategy, one the backend cannot run, or a
            TPU that cannot be reached.
    """
    check_strategy(name)
    if name == "none":
        return Strategy("none")
    if name == "data_parallel":
        if _multi_host_env():
            keras.distribution.initialize()
        devices = list(devices or keras.distribution.list_devices())
        native = keras.distribution.DataParallel(devices=devices)
        return Strategy(name, native, len(devices))
    native = _tf_strategy(name, devices, tpu)
    return Strategy(name, native, native.num_replicas_in_sync)
