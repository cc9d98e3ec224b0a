"""Smaller and faster classifiers: int8 quantization, magnitude pruning, LiteRT conversion, distillation
(`kerastune.compression.distillation`)."""

from kerastune.compression.litert_conversion import LiteRTClassifier, convert_to_litert
from kerastune.compression.litert_text_classifier import LiteRTTextClassifier
from kerastune.compression.magnitude_pruning import MagnitudePruning, polynomial_sparsity, prunable_kernels
from kerastune.compression.quantization import quantized_copy

__all__ = ["LiteRTClassifier", "LiteRTTextClassifier", "convert_to_litert", "MagnitudePruning", "polynomial_sparsity",
           "prunable_kernels", "quantized_copy"]
