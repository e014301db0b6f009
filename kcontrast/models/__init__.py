"""Encoders, projection heads and the ContrastiveModel.

`ENCODERS` maps a config's ``model.encoder`` to a builder
``fn(input_shape, width=, weight_decay=, bn_momentum=) -> keras.Model``:
``small_convnet`` and ``small_resnet`` (CPU-sized), and the paper-scale
``resnet18_cifar``, ``resnet18_imagenet``, ``resnet50_cifar`` and
``resnet50_imagenet`` (`kcontrast.models.resnet`).
"""

from kcontrast.models.contrastive_model import ContrastiveModel
from kcontrast.models.decoder import conv_decoder
from kcontrast.models.decoder import decodable_shape
from kcontrast.models.projection_head import projection_head
from kcontrast.models.resnet import VARIANTS as _RESNETS
from kcontrast.models.resnet import resnet18, resnet50
from kcontrast.models.small_convnet import small_convnet
from kcontrast.models.small_resnet import small_resnet

ENCODERS = {"small_convnet": small_convnet, "small_resnet": small_resnet, **_RESNETS}

__all__ = ["ContrastiveModel", "ENCODERS", "conv_decoder", "decodable_shape",
           "projection_head", "resnet18", "resnet50", "small_convnet", "small_resnet"]
