"""The MNIST networks with a 2-D feature layer: `mnist/mnist.lua` and `mnist/mnist-frelu.lua`.

`nn.Reshape(1, 28, 28)`, three blocks of two 5x5 convolutions (padding 2, `cudnn.ReLU`
after each) and a 2x2 max pooling with 32, 64 and 128 channels (28 -> 14 -> 7 -> 3),
`nn.View(1152)`, `nn.Linear(1152, 2)`, the activation under study and
`nn.Linear(2, 10)`. The scripts plot the output of `nn.Linear(1152, 2)`, taken before
the activation, as the 2-D embedding of each digit.
"""

import torch

from frelu_tools.models import layers
from frelu_tools.models.layers import Spec

CLASSES = 10

FEATURE_INDEX = 5
"""Index, in the top-level `nn.Sequential`, of `nn.Linear(1152, 2)`: the scripts' `m:get(6)`."""


def _frelu() -> Spec:
    # mnist-frelu.lua defines its own PosSReLU: cudnn.ReLU (not nn.ReLU) and
    # nn.MyAdd(1, -1, 1.0, false, 0, inplace, nil), both with inplace false.
    return layers.sequential(
        layers.relu(False, cudnn=True),
        layers.my_add(lr_decay=1.0, is_constrained=False, constrained_value=0, inplace=False),
    )


ACTIVATIONS = {
    "mnist-relu": lambda: layers.relu(False, cudnn=True),
    "mnist-frelu": _frelu,
}


def mnist_spec(net_type: str) -> Spec:
    """Return the spec of `mnist-relu` or `mnist-frelu`."""

    def conv_block(n_input, n_output):
        # Unlike the CIFAR files, the MNIST scripts keep the convolution biases (zeroed).
        return layers.sequential(
            layers.convolution(n_input, n_output, 5, 5, 1, 1, 2, 2, bias=True),
            layers.relu(True, cudnn=True),
            layers.convolution(n_output, n_output, 5, 5, 1, 1, 2, 2, bias=True),
            layers.relu(True, cudnn=True),
            layers.max_pooling(2, 2, 2, 2, 0, 0),
        )

    return layers.sequential(
        layers.reshape(1, 28, 28),
        conv_block(1, 32),  # 14x14
        conv_block(32, 64),  # 7x7
        conv_block(64, 128),  # 3x3
        layers.view(3 * 3 * 128),
        layers.linear(3 * 3 * 128, 2),
        ACTIVATIONS[net_type](),
        layers.linear(2, CLASSES),
    )


def features(model: torch.nn.Module, input: torch.Tensor) -> torch.Tensor:
    """Compute the 2-D features that the MNIST scripts scatter-plot.

    Args:
        model: a network built by `build("mnist-relu" | "mnist-frelu", "mnist")`.
        input: images of shape (N, 28, 28) or (N, 1, 28, 28).

    Returns:
        The output of `nn.Linear(1152, 2)`, before the activation, of shape (N, 2); N is 1
        for a single image, which Torch7's `nn.View` would return as shape (2,).

    Example:
        >>> model = build("mnist-frelu", "mnist").eval()
        >>> with torch.no_grad():
        ...     points = features(model, images)  # (N, 2)
    """
    try:
        feature_layer = model.get_submodule(str(FEATURE_INDEX))
    except AttributeError:
        feature_layer = None
    if not isinstance(feature_layer, torch.nn.Linear) or feature_layer.out_features != 2:
        raise ValueError(
            f"module {FEATURE_INDEX} of the model is {feature_layer!r}, not the 2-output "
            "nn.Linear of an MNIST network; build the model with "
            "frelu_tools.models.build('mnist-relu' or 'mnist-frelu', 'mnist')"
        )
    output = input
    for index in range(FEATURE_INDEX + 1):
        output = model.get_submodule(str(index))(output)
    return output.reshape(-1, 2)
