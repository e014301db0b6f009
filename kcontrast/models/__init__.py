"""Encoders, projection heads and the ContrastiveModel."""

from kcontrast.models.contrastive_model import ContrastiveModel
from kcontrast.models.decoder import conv_decoder
from kcontrast.models.decoder import decodable_shape
from kcontrast.models.projection_head import projection_head
from kcontrast.models.small_convnet import small_convnet
from kcontrast.models.small_resnet import small_resnet

ENCODERS = {"small_convnet": small_convnet, "small_resnet": small_resnet}

__all__ = ["ContrastiveModel", "ENCODERS", "conv_decoder", "decodable_shape",
           "projection_head", "small_convnet", "small_resnet"]
