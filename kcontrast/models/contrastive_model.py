"""ContrastiveModel: an encoder, a projection head, a contrastive loss and
online linear probes, trained together by ``fit`` on any Keras backend."""

import keras
from keras import layers, ops

from kcontrast import checks
from kcontrast import distribute
from kcontrast.losses import NTXent
from kcontrast.metrics import contrastive_accuracy
from kcontrast.models.augment import RAW_KEY
from kcontrast.models.decoder import decodable_shape
from kcontrast.models.train_step import backend_steps

VIEW_KEYS = ("view1", "view2")
# Which views' representations train the online probes.
PROBE_VIEWS = ("both", "first")
# What the encoder is trained for (see ContrastiveModel, "Objectives").
OBJECTIVES = ("contrastive", "autoencoder", "hybrid")


def reduce_contrastive(loss, z1, z2):
    """The contrastive loss of one batch, a float32 scalar.

    ``loss.call(z1, z2)`` gives the per-anchor values (``[n, 2]`` for the
    kcontrast losses); they are summed for ``reduction="sum"`` and
    averaged otherwise. Unlike ``loss(z1, z2)`` this is not divided by the
    replica count under ``tf.distribute`` (the TensorFlow train step
    scales the gradient itself and the metrics log the unscaled loss).

    Raises:
        ValueError: under a multi-replica ``tf.distribute`` strategy, a loss
            without a ``gather`` argument (it would contrast each replica's
            shard only).
    """
    if not hasattr(loss, "gather") and distribute.in_multi_replica_context():
        raise ValueError(
            "Expected a loss with global negatives under a multi-replica "
            "tf.distribute strategy (a kcontrast.losses.ContrastiveLoss, "
            "gather='auto'; or gather=None for per-replica negatives); "
            f"Received: loss={type(loss).__name__}")
    if isinstance(loss, keras.losses.Loss):
        values = ops.cast(loss.call(z1, z2), "float32")
        if loss.reduction == "sum":
            return ops.sum(values)
        return ops.mean(values)
    return ops.mean(ops.cast(loss(z1, z2), "float32"))


@keras.saving.register_keras_serializable(package="kcontrast")
class ContrastiveModel(keras.Model):
    """Contrastive pretraining with online probes.

    The model holds an encoder ``f`` (image -> representation ``h``), a
    projection head ``g`` (``h`` -> ``z``), a contrastive loss on the two
    views' projections, and one online probe per label: a ``Dense`` layer on
    ``stop_gradient(h)``, so probes learn alongside but never shape ``f``.

    One training step on a batch of n examples::

        h = f([view1; view2])                 # [2n, D], one encoder pass
        z1, z2 = split(g(h))                  # [n, P] each
        contrastive_loss = loss(z1, z2)
        probe_<name>_loss = CE(probe_<name>(stop_gradient(h)), [y; y])
        reg_loss = sum of the kernels' L2 penalties
        loss = contrastive_loss + sum(probe losses) + reg_loss

    Objectives. With a ``decoder`` (``[B, D]`` -> ``[B, H, W, C']``, e.g.
    ``kcontrast.models.conv_decoder``) the step also reconstructs each
    view's first C' channels (the image channels, not RandBit's extra ones)
    from its representation::

        recon_loss = mean over [2n, H, W, C'] of (decoder(h) - [view1; view2][..., :C'])^2

    and ``objective`` says what trains the encoder:

    - ``"contrastive"`` (default, no decoder): as above;
    - ``"autoencoder"``: ``loss = recon_loss + probes + reg`` (the
      contrastive loss is still computed and logged, with weight 0, so
      the head's gradients are zeros rather than missing);
    - ``"hybrid"``: ``loss = contrastive_loss + recon_weight * recon_loss
      + probes + reg``.

    With ``per_view_forward=True`` the encoder and head run once per view
    (``h1, z1 = f, g(view1)``; ``h2, z2 = f, g(view2)``), as the companion
    code does: in training mode each BatchNorm then normalizes each view
    with that view's own batch statistics (n rows, not 2n) and updates its
    moving averages twice per step (view 1, then view 2). Without
    BatchNorm in training mode, both modes compute the same values. With
    ``probe_views="first"`` the probes train on ``h1`` and ``y`` only, as
    in the companion code (``"both"``: on ``[h1; h2]`` and ``[y; y]``).

    Data. Training elements are ``(views, labels)``::

        views  = {"view1": float32 [n, H, W, C], "view2": float32 [n, H, W, C]}
        labels = {name: int [n]}            # multi-label: float 0/1 [n, K]

    from a ``tf.data.Dataset`` (see ``kcontrast.data.pipeline``) or NumPy
    arrays (``model.fit(x={"view1": a, "view2": b}, y={"label": y})``).
    ``labels`` may be omitted (or hold a subset of the probes), in which case
    those probes are not trained. Evaluation (``evaluate``) takes either the
    same two-view elements or ``(images [n, H, W, C], labels)``: probes are
    scored on ``view1`` (or the images) and the contrastive metrics only when
    two views are given.

    Metrics shown by ``fit``: ``loss``, ``contrastive_loss``,
    ``contrastive_acc`` (fraction of the 2n views whose most similar other
    view is their partner), ``reg_loss``, and ``probe_<name>_loss`` /
    ``probe_<name>_acc`` per probe, and ``recon_loss`` with a decoder.

    ``call(images)`` returns a dict of named features, all ``[B, ...]``:
    ``"stage<i>"`` (each encoder stage's feature map, globally average
    pooled), ``"representation"`` (h), ``"head_<i>"`` (each hidden layer of
    the head), ``"projection"`` (z) and ``"probe_<name>"`` (probe logits).

    Args:
        encoder: functional ``keras.Model`` image -> ``[B, D]``; layers named
            ``stage1``, ``stage2``, ... mark its spatial feature maps.
        head: functional ``keras.Model`` ``[B, D]`` -> ``[B, P]``; hidden
            layers named ``head_<i>`` are exposed by ``call``.
        loss: a contrastive ``keras.losses.Loss`` called as ``loss(z1, z2)``;
            default ``NTXent(temperature=0.2)``.
        probes: ``{label_name: num_classes}``.
        multi_label: names in ``probes`` whose labels are multi-hot; those
            probes use sigmoid cross-entropy and per-class accuracy.
        per_view_forward: bool; run the encoder and head once per view
            (per-view BatchNorm statistics) instead of once on both views
            concatenated (default False).
        probe_views: ``"both"`` (default) or ``"first"``: the views whose
            representations train the online probes.
        decoder: ``None`` or a ``keras.Model`` ``[B, D]`` -> ``[B, H, W,
            C']`` with the encoder's H, W and C' <= its C channels;
            required by the ``"autoencoder"`` and ``"hybrid"`` objectives.
        objective: ``"contrastive"``, ``"autoencoder"`` or ``"hybrid"``.
        recon_weight: weight >= 0 of ``recon_loss`` in ``"hybrid"``.
        sync_batch_norm: under a multi-replica ``tf.distribute`` strategy,
            train with BatchNorm statistics of the global batch (default
            True; set during ``fit`` only, see ``kcontrast.distribute``);
            False keeps per-replica statistics.
        augmentation: ``None`` or a ``kcontrast.models.augment.ViewAugmentation``:
            the step then also takes raw batches ``{"image": [n, H, W, C]}``
            (plus ``"extra"`` or ``"extra1"``/``"extra2"``, see
            ``ViewAugmentation.views``) and makes the two views itself,
            inside the compiled step; its seed state is saved with the model.

    Distribution: built, compiled and fit inside a ``tf.distribute``
    strategy's ``scope()`` (or under JAX ``keras.distribution.DataParallel``)
    the model trains on the global batch with nothing else to call: the
    loss's default ``gather="auto"`` gives global negatives, the TensorFlow
    step scales the gradient by 1/replicas, and BatchNorm is synchronized.

    >>> from kcontrast.models import small_convnet, projection_head
    >>> enc = small_convnet((28, 28, 1))
    >>> model = ContrastiveModel(enc, projection_head(128), probes={"label": 10})
    >>> model.compile(optimizer="adam")
    >>> sorted(model(np.zeros((2, 28, 28, 1), "float32")))  # doctest: +SKIP
    ['probe_label', 'projection', 'representation', 'stage1', ...]
    """

    def __init__(self, encoder, head, loss=None, probes=None, multi_label=(),
                 per_view_forward=False, probe_views="both", decoder=None,
                 objective="contrastive", recon_weight=1.0,
                 sync_batch_norm=True, augmentation=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(sync_batch_norm, bool):
            raise ValueError(
                "Expected sync_batch_norm to be True or False; "
                f"Received: sync_batch_norm={sync_batch_norm!r}")
        self.sync_batch_norm = sync_batch_norm
        if not isinstance(per_view_forward, bool):
            raise ValueError(
                "Expected per_view_forward to be True or False; "
                f"Received: per_view_forward={per_view_forward!r}")
        checks.check_choice(probe_views, PROBE_VIEWS, "probe_views")
        if not isinstance(encoder, keras.Model) or len(encoder.outputs) != 1:
            raise ValueError(
                "Expected encoder to be a functional keras.Model with one "
                f"output; Received: encoder={encoder!r}")
        if not isinstance(head, keras.Model):
            raise ValueError(
                f"Expected head to be a keras.Model; Received: head={head!r}")
        self._check_decoder(encoder, decoder, objective, recon_weight)
        probes = dict(probes or {})
        for name, classes in probes.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(
                    "Expected probe names to be identifiers; "
                    f"Received: probes={probes}")
            if not isinstance(classes, int) or classes < 2:
                raise ValueError(
                    "Expected num_classes >= 2 for every probe; "
                    f"Received: probes={probes}")
        unknown = set(multi_label) - set(probes)
        if unknown:
            raise ValueError(
                f"Expected multi_label names among probes {sorted(probes)}; "
                f"Received: multi_label={sorted(multi_label)}")
        self.encoder = encoder
        self.head = head
        self.contrastive_loss = loss if loss is not None else NTXent(0.2)
        # A loss that draws random numbers (SWD) owns a SeedGenerator; tracking
        # it here makes its state part of the model's non-trainable variables,
        # so it advances every step under JAX's stateless, jitted train step.
        seed_generator = getattr(self.contrastive_loss, "seed_generator", None)
        if seed_generator is not None:
            self.loss_seed_generator = seed_generator
        self.probe_classes = probes
        self.multi_label = tuple(sorted(multi_label))
        self.per_view_forward = per_view_forward
        self.probe_views = probe_views
        self.decoder = decoder
        self.objective = objective
        self.recon_weight = float(recon_weight)
        self.augmentation = augmentation
        rep_dim = encoder.outputs[0].shape[-1]
        self.probes = {}
        for name, classes in probes.items():
            probe = layers.Dense(classes, name=f"probe_{name}")
            probe.build((None, rep_dim))
            self.probes[name] = probe
        self._features = self._feature_model(encoder, head)
        self._trackers = self._make_trackers()
        self.built = True

    # ------------------------------------------------------------------ model
    @staticmethod
    def _check_decoder(encoder, decoder, objective, recon_weight):
        """Refuses a decoder that does not fit the encoder or the objective."""
        checks.check_choice(objective, OBJECTIVES, "objective")
        checks.check_non_negative(recon_weight, "recon_weight")
        if objective == "contrastive":
            if decoder is not None:
                raise ValueError(
                    "Expected decoder=None for objective='contrastive' (use "
                    "'autoencoder' or 'hybrid' to train a decoder); Received: "
                    f"decoder={decoder.name!r}")
            return
        if decoder is None:
            raise ValueError(
                f"Expected a decoder for objective={objective!r}; "
                "Received: decoder=None")
        height, width, channels = decodable_shape(encoder)
        if not isinstance(decoder, keras.Model) or len(decoder.outputs) != 1:
            raise ValueError("Expected decoder to be a keras.Model with one "
                             f"output; Received: decoder={decoder!r}")
        dim = encoder.outputs[0].shape[-1]
        takes = tuple(decoder.inputs[0].shape[1:])
        gives = tuple(decoder.outputs[0].shape[1:])
        if (takes != (dim,) or len(gives) != 3 or gives[:2] != (height, width)
                or gives[2] is None or gives[2] > channels):
            raise ValueError(
                f"Expected a decoder [B, {dim}] -> [B, {height}, {width}, C<="
                f"{channels}] for this encoder; Received: decoder {takes} -> "
                f"{gives}")

    @staticmethod
    def _feature_model(encoder, head):
        """One functional model exposing every named feature of f and g."""
        stages = [l for l in encoder.layers if l.name.startswith("stage")
                  and l.name[5:].isdigit()]
        outputs = {}
        for layer in stages:
            outputs[layer.name] = layers.GlobalAveragePooling2D(
                name=f"{layer.name}_pool")(layer.output)
        outputs["representation"] = encoder.outputs[0]
        z = head(encoder.outputs[0])
        hidden = [l for l in head.layers if l.name.startswith("head_")
                  and l.name[5:].isdigit()]
        if hidden:
            head_features = keras.Model(
                head.inputs, [l.output for l in hidden])(encoder.outputs[0])
            for layer, value in zip(hidden, head_features):
                outputs[layer.name] = value
        outputs["projection"] = z
        return keras.Model(encoder.inputs, outputs, name="features")

    def call(self, images, training=False):
        features = dict(self._features(images, training=training))
        h = features["representation"]
        for name, probe in self.probes.items():
            features[f"probe_{name}"] = probe(h)
        return features

    def stage_names(self):
        """The encoder's stage layer names, in order: ``["stage1", ...]``."""
        names = [l.name for l in self.encoder.layers
                 if l.name.startswith("stage") and l.name[5:].isdigit()]
        return sorted(names, key=lambda n: int(n[5:]))

    def feature_maps(self, images, stages=None, training=False):
        """The encoder's spatial stage maps, before any pooling.

        ``call`` gives each stage globally average pooled; this gives the
        maps themselves, for local features (K-means per image over the
        ``h_i * w_i`` vectors of a stage, see ``kcontrast.local_features``)::

            feature_maps(images)["stage<i>"]    [B, h_i, w_i, c_i]

        For ``small_resnet`` on 64x64 canvases the stages are 32x32x16w,
        16x16x32w and 8x8x64w.

        Args:
            images: ``[B, H, W, C]`` as the model takes them (a NumPy array
                or a backend tensor, symbolic ones included).
            stages: stage names to return (default: every stage).
            training: layer mode (default inference: BatchNorm moving
                statistics).

        Returns:
            dict ``stage name -> [B, h_i, w_i, c_i]`` backend tensor (use
            ``keras.ops.convert_to_numpy`` for arrays).

        Raises:
            ValueError: a name in ``stages`` that is not a stage.

        >>> maps = model.feature_maps(np.zeros((2, 64, 64, 1), "float32"))
        >>> {k: tuple(v.shape) for k, v in maps.items()}  # doctest: +SKIP
        {'stage1': (2, 32, 32, 16), 'stage2': (2, 16, 16, 32), 'stage3': (2, 8, 8, 64)}
        """
        names = self.stage_names()
        if stages is None:
            stages = names
        unknown = [s for s in stages if s not in names]
        if unknown or not stages:
            raise ValueError(
                f"Expected stages among {names}; Received: stages={list(stages)}")
        # A functional view of the encoder up to the asked stages; it shares
        # the encoder's layers and weights (nothing new is tracked or saved).
        maps = keras.Model(
            self.encoder.inputs[0],
            {s: self.encoder.get_layer(s).output for s in stages})
        return dict(maps(images, training=training))

    def embed(self, images, training=False):
        """Returns ``(h, z)`` for ``images [B, H, W, C]``."""
        h = self.encoder(images, training=training)
        return h, self.head(h, training=training)

    # -------------------------------------------------------------- metrics
    def _metric_names(self):
        names = ["loss", "contrastive_loss", "contrastive_acc", "reg_loss"]
        if self.decoder is not None:
            names.append("recon_loss")
        for name in self.probes:
            names += [f"probe_{name}_loss", f"probe_{name}_acc"]
        return names

    def _make_trackers(self):
        return {n: keras.metrics.Mean(name=n) for n in self._metric_names()}

    @property
    def metrics(self):
        return list(self._trackers.values())

    def update_trackers(self, values):
        """Adds one batch of scalar ``values`` to the trackers; returns logs."""
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in values}

    # ------------------------------------------------------- shared maths
    def _probe_losses(self, h, labels, repeat=1):
        values = {}
        total = 0.0
        h = ops.stop_gradient(h)
        for name, probe in self.probes.items():
            if labels is None or name not in labels:
                continue
            y = labels[name]
            if repeat > 1:
                y = ops.concatenate([y] * repeat, axis=0)
            logits = ops.cast(probe(h), "float32")
            if name in self.multi_label:
                y = ops.cast(y, "float32")
                loss = ops.mean(keras.losses.binary_crossentropy(
                    y, logits, from_logits=True))
                acc = ops.mean(ops.cast(
                    ops.equal(ops.cast(logits > 0, "float32"), y), "float32"))
            else:
                y = ops.cast(ops.reshape(y, (-1,)), "int32")
                loss = ops.mean(keras.losses.sparse_categorical_crossentropy(
                    y, logits, from_logits=True))
                acc = ops.mean(ops.cast(ops.equal(
                    ops.cast(ops.argmax(logits, axis=-1), "int32"), y),
                    "float32"))
            values[f"probe_{name}_loss"] = loss
            values[f"probe_{name}_acc"] = acc
            total = total + loss
        return total, values

    def _regularization_loss(self):
        losses = self.losses
        return ops.sum(ops.stack(losses)) if losses else ops.zeros(())

    def _reconstruction_loss(self, h1, h2, v1, v2, training):
        """Pixel MSE of the decoded views against their image channels."""
        channels = self.decoder.outputs[0].shape[-1]
        if self.per_view_forward:  # per-view BatchNorm statistics, as f
            decoded = ops.concatenate(
                [self.decoder(h1, training=training),
                 self.decoder(h2, training=training)], axis=0)
        else:
            decoded = self.decoder(ops.concatenate([h1, h2], axis=0),
                                   training=training)
        target = ops.concatenate([v1, v2], axis=0)[..., :channels]
        return ops.mean(ops.square(ops.cast(decoded, "float32")
                                   - ops.cast(target, "float32")))

    def compute_step(self, x, y=None, training=True):
        """Backend-neutral losses and metrics of one batch.

        Args:
            x: ``{"view1": [n,H,W,C], "view2": [n,H,W,C]}``, a raw batch
                ``{"image": ...}`` (with ``augmentation``), or images
                ``[n,H,W,C]`` (probes only; evaluation).
            y: ``{label_name: labels}`` or None.
            training: whether layers run in training mode.

        Returns:
            ``(loss, values)``: the scalar loss to minimise and a dict of
            scalar metrics named as in the class docstring.
        """
        values = {}
        if isinstance(x, dict) and RAW_KEY in x:
            if self.augmentation is None:
                raise ValueError(
                    f"Expected {VIEW_KEYS} inputs, or a model built with "
                    "augmentation= for raw batches; Received: keys="
                    f"{sorted(x)}")
            x = self.augmentation.views(x)
        if isinstance(x, dict) and all(k in x for k in VIEW_KEYS):
            v1, v2 = x["view1"], x["view2"]
            n = ops.shape(v1)[0]
            if self.per_view_forward:
                h1, z1 = self.embed(v1, training=training)
                h2, z2 = self.embed(v2, training=training)
            else:
                h, z = self.embed(ops.concatenate([v1, v2], axis=0),
                                  training=training)
                h1, h2, z1, z2 = h[:n], h[n:], z[:n], z[n:]
            contrastive = reduce_contrastive(self.contrastive_loss, z1, z2)
            values["contrastive_loss"] = contrastive
            values["contrastive_acc"] = contrastive_accuracy(
                z1, z2, getattr(self.contrastive_loss, "gather", None))
            if self.decoder is not None:
                recon = self._reconstruction_loss(h1, h2, v1, v2, training)
                values["recon_loss"] = recon
                if self.objective == "autoencoder":
                    contrastive = 0.0 * contrastive + recon
                else:
                    contrastive = contrastive + self.recon_weight * recon
            if training and self.probe_views == "both":
                probe_h, repeat = ops.concatenate([h1, h2], axis=0), 2
            else:
                probe_h, repeat = h1, 1
        elif isinstance(x, dict):
            raise ValueError(
                f"Expected inputs with keys {VIEW_KEYS} or an image tensor; "
                f"Received: keys={sorted(x)}")
        else:
            contrastive = 0.0
            probe_h = self.encoder(x, training=training)
            repeat = 1
        probe_total, probe_values = self._probe_losses(probe_h, y, repeat)
        values.update(probe_values)
        total = contrastive + probe_total
        if training:
            reg = ops.cast(self._regularization_loss(), "float32")
            values["reg_loss"] = reg
            total = total + reg
        values["loss"] = ops.convert_to_tensor(total, "float32")
        return values["loss"], values

    # --------------------------------------------- per-backend train/test
    def fit(self, *args, **kwargs):
        """``keras.Model.fit``; afterwards clears the BatchNorm
        ``synchronized`` flags a distributed train step set (so the model
        saves loadable on every backend)."""
        try:
            return super().fit(*args, **kwargs)
        finally:
            distribute.release_step_sync(self)

    def train_step(self, *args):
        return backend_steps().train_step(self, *args)

    def test_step(self, *args):
        return backend_steps().test_step(self, *args)

    # ------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "head": keras.saving.serialize_keras_object(self.head),
            "loss": keras.saving.serialize_keras_object(self.contrastive_loss),
            "probes": dict(self.probe_classes),
            "multi_label": list(self.multi_label),
            "per_view_forward": self.per_view_forward,
            "probe_views": self.probe_views,
            "decoder": (None if self.decoder is None else
                        keras.saving.serialize_keras_object(self.decoder)),
            "objective": self.objective,
            "recon_weight": self.recon_weight,
            "sync_batch_norm": self.sync_batch_norm,
            "augmentation": (None if self.augmentation is None else
                             keras.saving.serialize_keras_object(self.augmentation)),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "head", "loss", "decoder", "augmentation"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
