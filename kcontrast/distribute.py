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
model inside ``strategy.scope()``, the plain Keras way::

    strategy = get_strategy("mirrored")
    strategy.check_batch_size(batch_size)       # global batch, divisible
    with strategy.scope():
        model = ContrastiveModel(encoder, head, loss=NTXent(0.2))
        model.compile(optimizer="adam")
        model.fit(dataset_of_global_batches, epochs=...)

Nothing else needs calling: under a multi-replica strategy the model trains
on the global batch (global negatives, 1/N gradient scaling, synchronized
BatchNorm), exactly as one device would. ``prepare_model`` remains for
choosing per-replica BatchNorm (``sync_batch_norm=False``).

The batch size is *global*: each of the N replicas gets ``batch / N``
examples of every batch (Keras splits the dataset's batches).

What each backend does with the contrastive batch:

- TensorFlow (``mirrored``, ``multi_worker_mirrored``, ``tpu``): every
  replica runs ``train_step`` on its own shard. The losses' default
  ``gather="auto"`` (``kcontrast.losses.base``) then all-gathers each
  replica's projections (``replica_gather``): the local rows stay the
  anchors and the global batch gives the negatives; positives are found at
  ``offset`` = the number of rows held by lower replica ids.
  ``ReplicaContext.all_gather`` differentiates as "all-reduce (sum) the
  upstream gradient, keep this replica's slice", so every replica's local
  projections receive the gradient of every replica's loss. The TensorFlow
  train step divides the loss by N before the gradient (the optimizer sums
  the replicas' gradients), so the update is that of the global-batch mean
  loss. The train step also sets ``synchronized=True`` on every
  BatchNormalization (statistics over the global batch, as one device
  would compute them) unless the model was built with
  ``sync_batch_norm=False``; ``ContrastiveModel.fit`` clears the flags it
  set when it returns, so the saved model loads on every backend.
  Metrics are ``keras.metrics.Mean`` trackers whose variables
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
import weakref

import keras

from kcontrast import checks
from kcontrast.losses.base import in_multi_replica_context
from kcontrast.losses.base import replica_gather  # noqa: F401 (public name)

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


# model -> the BatchNormalization layers whose flag a train step set.
_STEP_SYNCED = weakref.WeakKeyDictionary()


def synchronize_for_step(model):
    """Synchronizes ``model``'s BatchNorms when a train step runs under a
    multi-replica ``tf.distribute`` strategy.

    Called by the TensorFlow train step (at trace time) in the replica
    context. Does nothing off such a strategy, or when
    ``model.sync_batch_norm`` is False. The flags it sets are remembered
    (per model) so that ``release_step_sync`` can clear them.
    """
    if not getattr(model, "sync_batch_norm", True):
        return
    if not in_multi_replica_context():
        return
    synced = _STEP_SYNCED.setdefault(model, [])
    for layer in batch_norm_layers(model):
        if not layer.synchronized:
            layer.synchronized = True
            synced.append(layer)


def release_step_sync(model):
    """Clears the BatchNorm flags ``synchronize_for_step`` set."""
    for layer in _STEP_SYNCED.pop(model, []):
        layer.synchronized = False


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
        """Optional: chooses the BatchNorm statistics of a ``ContrastiveModel``.

        Not needed for the global batch: under a multi-replica strategy the
        losses gather the negatives themselves and the train step
        synchronizes BatchNorm (see the module docstring). This sets
        ``model.sync_batch_norm`` and, on TensorFlow strategies, the
        ``synchronized`` flag of every BatchNormalization now
        (``sync_batch_norm=False``: per-replica statistics). ``none`` and
        ``data_parallel``: nothing to do. Returns the model.
        """
        if self.backend == "tensorflow":
            if hasattr(model, "sync_batch_norm"):
                model.sync_batch_norm = bool(sync_batch_norm)
            synchronize_batch_norm(model, bool(sync_batch_norm))
        return model

    def release_model(self, model):
        """Undoes ``prepare_model``'s BatchNorm flag after training.

        A BatchNormalization saved with ``synchronized=True`` cannot be
        loaded on JAX or PyTorch; in inference mode (moving statistics) the
        flag changes nothing. Returns the model.
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
