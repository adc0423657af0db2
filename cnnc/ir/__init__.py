"""The IR: what a spec means. Typed, frozen layer nodes with blocks expanded and expressions
evaluated; each node keeps the span it was written at and the block calls it was expanded from.

``base`` holds shapes and the fields every node has, ``layers`` one node per kind of layer, and
``graph`` the containers, the network and the walk; everything is used as ``ir.Name``."""

from __future__ import annotations

from cnnc.ir.base import Frame, Layer, Padding, Shape, Sizes
from cnnc.ir.graph import (
    MERGES,
    Add,
    Concat,
    Multiply,
    Network,
    Node,
    Residual,
    TrainRecipe,
    walk,
)
from cnnc.ir.layers import (
    Activation,
    ActivationFunction,
    AdaptivePool,
    BatchNorm,
    Conv,
    Deconv,
    Dense,
    Dropout,
    DropPath,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    LayerScale,
    LocalResponseNorm,
    PixelShuffle,
    Pool,
    PReLU,
    Shuffle,
    Slice,
    Upsample,
)

__all__ = [
    "MERGES", "Activation", "ActivationFunction", "AdaptivePool", "Add", "BatchNorm", "Concat", "Conv", "Deconv",
    "Dense", "DropPath", "Dropout", "Flatten", "Frame", "GlobalAvgPool", "GlobalMaxPool", "GroupNorm", "InstanceNorm",
    "Layer", "LayerNorm", "LayerScale", "LocalResponseNorm", "Multiply", "Network", "Node", "PReLU", "Padding",
    "PixelShuffle", "Pool", "Residual", "Shape", "Shuffle", "Sizes", "Slice", "TrainRecipe", "Upsample", "walk",
]
