"""Network building blocks."""

from .blocks import MLP, ConvDecoder, ConvEncoder, activation, conv_sizes

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "activation", "conv_sizes"]
