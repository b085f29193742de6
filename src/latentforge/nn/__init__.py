"""Network building blocks."""

from .blocks import (ACTIVATIONS, MLP, Conv1dDecoder, Conv1dEncoder, ConvDecoder, ConvEncoder,
                     MinibatchDiscrimination, MinibatchStd, activation, conv_sizes)

__all__ = ["ACTIVATIONS", "MLP", "Conv1dDecoder", "Conv1dEncoder", "ConvDecoder", "ConvEncoder",
           "MinibatchDiscrimination", "MinibatchStd", "activation", "conv_sizes"]
