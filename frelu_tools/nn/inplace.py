"""The rule for Torch7's `inplace` flag under autograd."""

import torch


def writes_in_place(inplace: bool, *tensors: torch.Tensor) -> bool:
    """Tell whether a layer with Torch7's `inplace` flag should write into its input.

    Only where autograd records nothing. Torch7 layers can write in place during training
    because their backward pass undoes the write (`nn.MyAdd` subtracts its bias again).
    Autograd cannot undo it, so an in-place write into the output of an in-place ReLU
    makes ReLU's backward pass fail. Outputs are equal either way.
    """
    if not inplace:
        return False
    return not (torch.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors))
