import pytest
import torch
from torch import nn

from frelu_tools.nn import (
    AddConstant,
    CAddTable,
    Concat,
    ConcatTable,
    Dropout,
    FReLUBias,
    JoinTable,
    LogSoftMax,
    MulConstant,
    Narrow,
    ParallelTable,
    Reshape,
    SoftMax,
    SReLU,
    UpsamplingNearest,
    View,
)


def test_frelu_bias_layer_wise_adds_scalar():
    layer = FReLUBias(init=-0.5)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x), x - 0.5)


def test_frelu_bias_channel_wise_batch_dim():
    layer = FReLUBias(3, num_input_dims=3)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    x = torch.zeros(2, 3, 4, 4)
    y = layer(x)
    assert torch.equal(y[:, 1], torch.full((2, 4, 4), 2.0))
    single = layer(torch.zeros(3, 4, 4))
    assert torch.equal(single[2], torch.full((4, 4), 3.0))


def test_frelu_bias_channel_wise_no_dims():
    layer = FReLUBias(4)
    with torch.no_grad():
        layer.bias.copy_(torch.arange(4.0))
    y = layer(torch.zeros(4, 4))
    assert torch.equal(y[0], torch.arange(4.0))


def test_frelu_bias_rejects_wrong_dims():
    layer = FReLUBias(3, num_input_dims=3)
    with pytest.raises(ValueError, match="num_input_dims is 3"):
        layer(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="expects 3 channels"):
        FReLUBias(3)(torch.zeros(2, 5, 4, 4))


def test_frelu_bias_grad_scale_multiplies_loss_gradient():
    x = torch.randn(2, 3, 4, 4)
    plain = FReLUBias(init=-1.0)
    scaled = FReLUBias(init=-1.0, grad_scale=0.1)
    (plain(x) * x).sum().backward()
    (scaled(x) * x).sum().backward()
    assert torch.allclose(scaled.bias.grad, 0.1 * plain.bias.grad)
    assert torch.allclose(plain.bias.grad, x.sum().reshape(1))


def test_frelu_bias_grad_scale_channel_wise():
    x = torch.randn(2, 3, 4, 4)
    layer = FReLUBias(3, grad_scale=0.25, num_input_dims=3)
    layer(x).sum().backward()
    assert torch.allclose(layer.bias.grad, torch.full((3,), 0.25 * 2 * 16))


def test_frelu_bias_grad_scale_leaves_weight_decay_unscaled():
    layer = FReLUBias(init=-1.0, grad_scale=0.1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=1.0, weight_decay=0.5)
    layer(torch.ones(4)).sum().backward()
    optimizer.step()
    # gradient 0.1 * 4 from the loss, plus 0.5 * -1 from weight decay
    assert torch.allclose(layer.bias.detach(), torch.tensor([-1.0 - (0.4 - 0.5)]))


def test_frelu_bias_input_gradient_is_unscaled():
    x = torch.randn(5, requires_grad=True)
    FReLUBias(grad_scale=0.1)(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(5))


def test_frelu_bias_constraint_sequence():
    layer = FReLUBias(3, init=-1.0, constrained=True, num_input_dims=1)
    x = torch.zeros(3)

    # first pass: nothing positive, bias_copy takes the bias
    assert torch.equal(layer(x), torch.full((3,), -1.0))
    assert torch.equal(layer.bias_copy, torch.full((3,), -1.0))

    # an update pushes two entries up, one of them positive
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -0.2, -1.0]))
    y = layer(x)
    assert torch.equal(y, torch.tensor([-1.0, -0.2, -1.0]))
    assert torch.equal(layer.bias.detach(), torch.tensor([-1.0, -0.2, -1.0]))
    assert torch.equal(layer.bias_copy, torch.tensor([-1.0, -0.2, -1.0]))

    # a positive value restored from an earlier bias_copy, also in evaluation mode
    layer.eval()
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.3, 0.7, -0.4]))
    y = layer(x)
    assert torch.equal(y, torch.tensor([-1.0, -0.2, -0.4]))
    assert torch.equal(layer.bias_copy, torch.tensor([-1.0, -0.2, -0.4]))


def test_frelu_bias_constraint_restores_a_stale_positive_copy():
    layer = FReLUBias(init=-1.0, constrained=True)
    with torch.no_grad():
        layer.bias.fill_(0.5)
        layer.bias_copy.fill_(0.25)
    assert torch.equal(layer(torch.zeros(2)), torch.full((2,), 0.25))
    assert torch.equal(layer.bias_copy, torch.tensor([0.25]))


def test_frelu_bias_unconstrained_keeps_positive_bias():
    layer = FReLUBias(init=0.5)
    with torch.no_grad():
        layer.bias_copy.fill_(-3.0)
    assert torch.equal(layer(torch.zeros(2)), torch.full((2,), 0.5))
    assert torch.equal(layer.bias_copy, torch.tensor([-3.0]))


def test_frelu_bias_constraint_then_gradient():
    layer = FReLUBias(init=-1.0, grad_scale=0.1, constrained=True)
    with torch.no_grad():
        layer.bias.fill_(0.2)
    layer(torch.ones(3)).sum().backward()
    assert torch.equal(layer.bias.detach(), torch.tensor([-1.0]))
    assert torch.allclose(layer.bias.grad, torch.tensor([0.3]))


def test_frelu_bias_state_dict_has_bias_copy():
    assert list(FReLUBias(4).state_dict()) == ["bias", "bias_copy"]


def test_frelu_bias_inplace_writes_input():
    x = torch.zeros(3)
    with torch.no_grad():
        y = FReLUBias(init=2.0, inplace=True)(x)
    assert y.data_ptr() == x.data_ptr()
    assert torch.equal(x, torch.full((3,), 2.0))


def test_frelu_bias_inplace_after_inplace_relu_trains():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    in_place = nn.Sequential(nn.ReLU(inplace=True), FReLUBias(init=-0.5, inplace=True))
    plain = nn.Sequential(nn.ReLU(), FReLUBias(init=-0.5))
    (in_place(x * 1) * x).sum().backward()
    in_place_grad = x.grad.clone()
    x.grad = None
    (plain(x * 1) * x).sum().backward()
    assert torch.equal(in_place_grad, x.grad)
    assert torch.equal(in_place[1].bias.grad, plain[1].bias.grad)


def test_frelu_bias_constrain_method():
    layer = FReLUBias(2, constrained_value=-0.1)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.4, -0.3]))
    layer.constrain()
    assert torch.allclose(layer.bias.detach(), torch.tensor([-0.1, -0.3]))


def test_frelu_is_relu_then_bias():
    frelu = nn.Sequential(nn.ReLU(), FReLUBias(init=-1.0))
    x = torch.tensor([-2.0, 0.0, 3.0])
    assert torch.equal(frelu(x), torch.tensor([-1.0, -1.0, 2.0]))
    assert list(frelu.state_dict()) == ["1.bias", "1.bias_copy"]


def test_srelu_forward_and_gradients():
    layer = SReLU(init=0.5)
    x = torch.tensor([0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert torch.equal(y.detach(), torch.tensor([0.5, 0.5, 1.0, 2.0]))
    # ties go to the threshold, as in Torch7's le() mask
    assert torch.equal(x.grad, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(layer.bias.grad, torch.tensor([2.0]))


def test_srelu_inplace_writes_input():
    x = torch.tensor([-3.0, 3.0])
    with torch.no_grad():
        y = SReLU(init=-1.0, inplace=True)(x)
    assert y.data_ptr() == x.data_ptr()
    assert torch.equal(x, torch.tensor([-1.0, 3.0]))


def test_srelu_rejects_size():
    with pytest.raises(ValueError, match="one threshold"):
        SReLU(size=3)


@pytest.mark.parametrize(
    ("size", "num_input_dims", "input_shape", "output_shape"),
    [
        ((-1,), None, (2, 3, 4, 4), (96,)),
        ((48,), 3, (2, 3, 4, 4), (2, 48)),
        ((48,), 3, (1, 3, 4, 4), (1, 48)),
        ((48,), 3, (3, 4, 4), (48,)),
        ((-1,), 3, (2, 3, 4, 4), (2, 48)),
        ((48,), None, (2, 3, 4, 4), (2, 48)),
        # batch of one without num_input_dims: Torch7 drops the batch dimension
        ((48,), None, (1, 3, 4, 4), (48,)),
        ((-1,), None, (1, 3, 4, 4), (48,)),
        ((4, 12), None, (2, 3, 4, 4), (2, 4, 12)),
        ((4, -1), 3, (2, 3, 4, 4), (2, 4, 12)),
    ],
)
def test_view_batch_rule(size, num_input_dims, input_shape, output_shape):
    layer = View(*size, num_input_dims=num_input_dims)
    assert layer(torch.zeros(input_shape)).shape == output_shape


def test_view_rejects_mismatch():
    with pytest.raises(ValueError, match="does not match"):
        View(5)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="more than one -1"):
        View(-1, -1)


@pytest.mark.parametrize(
    ("size", "batch_mode", "input_shape", "output_shape"),
    [
        ((48,), None, (3, 4, 4), (48,)),
        ((48,), None, (2, 3, 4, 4), (2, 48)),
        ((48,), None, (1, 3, 4, 4), (1, 48)),
        ((4, 12), None, (2, 48), (2, 4, 12)),
        ((12, 4), False, (1, 48), (12, 4)),
        ((3, 4, 4), True, (1, 48), (1, 3, 4, 4)),
    ],
)
def test_reshape_batch_rule(size, batch_mode, input_shape, output_shape):
    layer = Reshape(*size, batch_mode=batch_mode)
    assert layer(torch.zeros(input_shape)).shape == output_shape


@pytest.mark.parametrize(
    ("dim", "start", "length", "expected"),
    [
        (1, 2, 3, [2, 3, 4]),
        (-1, 0, 2, [0, 1]),
        (1, 3, -1, [3, 4, 5, 6, 7]),
        (1, 1, -2, [1, 2, 3, 4, 5, 6]),
        (1, -1, 3, [0, 1, 2, 3, 4]),
    ],
)
def test_narrow_torch7_rules(dim, start, length, expected):
    x = torch.arange(8.0).expand(2, 8)
    y = Narrow(dim, start, length)(x)
    assert y[0].tolist() == expected


def test_narrow_copies():
    x = torch.arange(4.0)
    Narrow(0, 1, 2)(x).zero_()
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_dropout_v1_scales_at_evaluation():
    layer = Dropout(0.25, v1=True).eval()
    assert torch.allclose(layer(torch.ones(5)), torch.full((5,), 0.75))


def test_dropout_v1_training_unscaled():
    torch.manual_seed(0)
    y = Dropout(0.5, v1=True).train()(torch.ones(1000))
    assert set(y.unique().tolist()) == {0.0, 1.0}


def test_dropout_v2_scales_in_training():
    torch.manual_seed(0)
    y = Dropout(0.5).train()(torch.ones(1000))
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(Dropout(0.5).eval()(torch.ones(3)), torch.ones(3))


def test_dropout_stochastic_inference():
    torch.manual_seed(0)
    y = Dropout(0.5, stochastic_inference=True).eval()(torch.ones(1000))
    assert (y == 0).any()


def test_dropout_rejects_p():
    with pytest.raises(ValueError, match="0, 1"):
        Dropout(1.0)


@pytest.mark.parametrize(
    ("shape", "dim"), [((5,), 0), ((2, 5), 1), ((5, 3, 3), 0), ((2, 5, 3, 3), 1)]
)
@pytest.mark.parametrize("layer_class", [SoftMax, LogSoftMax])
def test_softmax_torch7_dim(layer_class, shape, dim):
    x = torch.randn(shape)
    reference = torch.softmax(x, dim) if layer_class is SoftMax else torch.log_softmax(x, dim)
    assert torch.allclose(layer_class()(x), reference)


def test_softmax_rejects_5d():
    with pytest.raises(ValueError, match="1-D to 4-D"):
        SoftMax()(torch.zeros(1, 1, 1, 1, 1))


def test_constants():
    x = torch.ones(3)
    assert torch.equal(MulConstant(0.5)(x), torch.full((3,), 0.5))
    assert torch.equal(AddConstant(-1.0)(x), torch.zeros(3))
    MulConstant(3.0, inplace=True)(x)
    assert torch.equal(x, torch.full((3,), 3.0))
    AddConstant(1.0, inplace=True)(x)
    assert torch.equal(x, torch.full((3,), 4.0))


def test_concat_table_and_cadd_table():
    block = nn.Sequential(ConcatTable(nn.Identity(), MulConstant(2.0)), CAddTable())
    x = torch.randn(2, 3)
    assert torch.allclose(block(x), 3 * x)


def test_constants_inplace_with_autograd_copy():
    x = torch.ones(3, requires_grad=True)
    y = AddConstant(1.0, inplace=True)(x)
    y.sum().backward()
    assert torch.equal(x.detach(), torch.ones(3))
    assert torch.equal(x.grad, torch.ones(3))


def test_cadd_table_inplace_writes_first():
    a, b = torch.ones(2), torch.ones(2)
    y = CAddTable(inplace=True)([a, b])
    assert y.data_ptr() == a.data_ptr()
    assert torch.equal(b, torch.ones(2))


def test_parallel_table_and_join_table():
    block = nn.Sequential(
        ParallelTable(MulConstant(2.0), AddConstant(1.0)), JoinTable(0, num_input_dims=3)
    )
    a, b = torch.zeros(2, 3, 4, 4), torch.zeros(2, 5, 4, 4)
    y = block([a, b])
    assert y.shape == (2, 8, 4, 4)
    assert torch.equal(y[:, 3:], torch.ones(2, 5, 4, 4))


def test_parallel_table_rejects_count():
    with pytest.raises(ValueError, match="2 modules got 1"):
        ParallelTable(nn.Identity(), nn.Identity())([torch.zeros(1)])


def test_join_table_without_batch():
    y = JoinTable(0, num_input_dims=3)([torch.zeros(3, 4, 4), torch.zeros(5, 4, 4)])
    assert y.shape == (8, 4, 4)
    assert JoinTable(-1)([torch.zeros(2, 3), torch.zeros(2, 1)]).shape == (2, 4)


def test_concat_shortcut_a():
    block = Concat(1, nn.Identity(), MulConstant(0.0))
    y = block(torch.ones(2, 3, 4, 4))
    assert y.shape == (2, 6, 4, 4)
    assert torch.equal(y[:, 3:], torch.zeros(2, 3, 4, 4))


def test_containers_state_dict_keys():
    block = ConcatTable(nn.Sequential(nn.Linear(2, 2)), FReLUBias())
    assert list(block.state_dict()) == ["0.0.weight", "0.0.bias", "1.bias", "1.bias_copy"]
    assert len(block) == 2
    assert isinstance(block[1], FReLUBias)


@pytest.mark.parametrize("shape", [(5,), (2, 5), (5, 3, 3), (2, 5, 3, 3)])
def test_softmax_instance_mode(shape):
    x = torch.randn(shape)
    y = SoftMax(instance=True)(x)
    per_sample = y.flatten(1) if len(shape) in (2, 4) else y.flatten().unsqueeze(0)
    assert y.shape == x.shape
    assert torch.allclose(per_sample.sum(1), torch.ones(per_sample.shape[0]))
    assert torch.allclose(LogSoftMax(instance=True)(x).exp(), y, atol=1e-6)


def test_upsampling_nearest_single_and_batch():
    layer = UpsamplingNearest(2)
    single = torch.arange(4.0).reshape(1, 2, 2)
    assert layer(single).shape == (1, 4, 4)
    assert torch.equal(layer(single.unsqueeze(0))[0], layer(single))
    assert layer(single)[0, 1, 1].item() == 0.0
    assert layer(single)[0, 3, 3].item() == 3.0
    with pytest.raises(ValueError, match="positive integer"):
        UpsamplingNearest(1.5)
