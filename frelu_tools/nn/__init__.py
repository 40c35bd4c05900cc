"""PyTorch layers with the semantics of Torch7 layers that torch.nn lacks.

Every other Torch7 layer of the FReLU models maps to a plain torch.nn module (Conv2d,
BatchNorm2d, MaxPool2d, ReLU, ...); `frelu_tools.port` does that mapping.
"""

from frelu_tools.nn.elementwise import AddConstant, Dropout, LogSoftMax, MulConstant, SoftMax
from frelu_tools.nn.frelu import FReLUBias, SReLU
from frelu_tools.nn.shape import Narrow, Reshape, UpsamplingNearest, View
from frelu_tools.nn.tables import CAddTable, Concat, ConcatTable, JoinTable, ParallelTable

__all__ = [
    "AddConstant",
    "CAddTable",
    "Concat",
    "ConcatTable",
    "Dropout",
    "FReLUBias",
    "JoinTable",
    "LogSoftMax",
    "MulConstant",
    "Narrow",
    "ParallelTable",
    "Reshape",
    "SReLU",
    "SoftMax",
    "UpsamplingNearest",
    "View",
]
