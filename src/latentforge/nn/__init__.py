"""Network building blocks."""

from .blocks import MLP, Conv1dDecoder, Conv1dEncoder, ConvDecoder, ConvEncoder, activation, conv_sizes

__all__ = ["MLP", "Conv1dDecoder", "Conv1dEncoder", "ConvDecoder", "ConvEncoder", "activation", "conv_sizes"]
