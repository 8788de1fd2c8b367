"""FLOPs per layer from shapes alone, counted the way torch's FlopCounterMode counts them.

FlopCounterMode is exact for any forward, but it is a TorchDispatchMode, and torch wraps those
in a lazy `import torch._dynamo`: about 2 s, more than all the rest of `cnntui shapes`. In a CNN
every FLOP it counts comes from a convolution or a matrix product, and for torch's own Conv and
Linear layers those follow from the layer's shapes (the same formulas as conv_flop and
addmm_flop in torch/utils/flop_counter.py). So this counter adds those up in the recorder's
hooks, and watches every other torch call through a TorchFunctionMode, which imports nothing.
A call outside those layers that is not on a short list of FLOP-free functions (a matmul in a
custom forward, attention, anything unknown) marks the count incomplete, and the caller runs
the forward again under FlopCounterMode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnntui.shapes.recorder import is_leaf

# Layer type -> spatial rank. Exact types only: a subclass may compute more in its forward.
CONV_TYPES: dict[type[nn.Module], int] = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
TRANSPOSED_TYPES: dict[type[nn.Module], int] = {
    nn.ConvTranspose1d: 1,
    nn.ConvTranspose2d: 2,
    nn.ConvTranspose3d: 3,
}

# Functions that never reach the ops FlopCounterMode counts (mm, addmm, bmm, baddbmm,
# _scaled_mm, convolution, attention), by __name__: torch.relu, F.relu and Tensor.relu alike.
# Whatever is missing here costs a second forward under FlopCounterMode, never a wrong count.
FLOP_FREE: frozenset[str] = frozenset(
    {
        # tensor metadata: x.shape (a getset's __get__), x.size(), x.dim() ...
        "__get__", "dim", "size", "numel", "element_size", "stride", "is_contiguous",
        "is_floating_point", "ndimension", "nelement", "__len__", "__bool__", "__format__",
        "_assert", "item", "tolist",
        # views, copies, indexing and joining
        "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze",
        "unsqueeze", "permute", "transpose", "t", "expand", "expand_as", "repeat", "tile",
        "chunk", "split", "unbind", "narrow", "select", "__getitem__", "__setitem__", "cat",
        "concat", "concatenate", "stack", "flip", "roll", "movedim", "contiguous", "clone",
        "detach", "to", "float", "double", "half", "bfloat16", "type_as", "new_zeros",
        "new_ones", "new_empty", "new_full", "zeros_like", "ones_like", "empty_like",
        "full_like", "masked_fill", "masked_fill_", "where", "index_select", "gather",
        # elementwise arithmetic and comparisons
        "add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__rsub__",
        "__isub__", "mul", "mul_", "__mul__", "__rmul__", "__imul__", "div", "div_",
        "__truediv__", "__rtruediv__", "__itruediv__", "neg", "__neg__", "pow", "__pow__",
        "sqrt", "rsqrt", "exp", "log", "abs", "clamp", "clamp_", "clamp_min", "clamp_max",
        "maximum", "minimum", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
        "eq", "ne", "lt", "le", "gt", "ge",
        # activations
        "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu",
        "gelu", "silu", "mish", "sigmoid", "sigmoid_", "tanh", "tanh_", "hardtanh",
        "hardtanh_", "hardswish", "hardsigmoid", "softplus", "softsign", "prelu", "threshold",
        "threshold_", "logsigmoid", "softmax", "log_softmax", "glu",
        # reductions
        "sum", "mean", "amax", "amin", "max", "min", "var", "std", "logsumexp", "argmax",
        "argmin",
        # pooling, normalisation, dropout, padding and resizing
        "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
        "batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm",
        "rms_norm", "normalize", "dropout", "dropout1d", "dropout2d", "dropout3d",
        "alpha_dropout", "feature_alpha_dropout", "pad", "interpolate", "pixel_shuffle",
        "pixel_unshuffle", "channel_shuffle",
    }
)  # fmt: skip


def has_formula(module: nn.Module) -> bool:
    """Whether `module` is torch's own Conv or Linear layer, running torch's own forward.

    Exact types only, and no replaced forward or children (parametrizations): those may
    compute more than the formula knows.
    """
    kind = type(module)
    if kind is not nn.Linear and kind not in CONV_TYPES and kind not in TRANSPOSED_TYPES:
        return False
    return "forward" not in vars(module) and is_leaf(module)


def layer_flops(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> int | None:
    """FLOPs of one call of a layer with a formula, as FlopCounterMode counts them; else None."""
    if not has_formula(module) or not inputs:
        return None
    x = inputs[0]
    if not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor):
        return None
    # The weight is Linear (out, in), conv (out, in/groups, *kernel), transposed conv
    # (in, out/groups, *kernel): the product of its sides is the multiply-adds per position.
    per_position = math.prod(cast(torch.Tensor, module.weight).shape)
    kind = type(module)
    if kind is nn.Linear:
        # F.linear folds every leading dimension into the rows of one addmm/mm.
        return 2 * math.prod(x.shape[:-1]) * per_position
    rank = CONV_TYPES.get(kind) or TRANSPOSED_TYPES[kind]
    # An unbatched input (C, *spatial) is convolved as a batch of one.
    batch = x.shape[0] if x.dim() == rank + 2 else 1
    # A convolution visits each output position, a transposed one each input position.
    positions = x.shape[-rank:] if kind in TRANSPOSED_TYPES else output.shape[-rank:]
    return 2 * batch * math.prod(positions) * per_position


class LayerFlops(TorchFunctionMode):
    """Adds up layer_flops over a forward and notices compute that the formulas cannot see.

    `innermost` names the module running now (the recorder's innermost open call). Calls
    inside a layer with a formula are that layer's own; any other call must be FLOP-free.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.uncounted: str | None = None  # the first call the formulas cannot account for
        self.innermost: Callable[[], nn.Module | None] = lambda: None

    @property
    def complete(self) -> bool:
        """True when every FLOP of the forward went through a formula."""
        return self.uncounted is None

    def read(self) -> int:
        """FLOPs counted so far."""
        return self.total

    def layer_returned(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        """Count a module call that just returned (the recorder calls this from its hook)."""
        if has_formula(module):
            flops = layer_flops(module, inputs, output)
            if flops is None:
                self._miss(f"{type(module).__name__} called without a tensor")
            else:
                self.total += flops

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if self.uncounted is None:
            module = self.innermost()
            if module is None or not has_formula(module):
                name = getattr(func, "__name__", None)
                if name not in FLOP_FREE:
                    self._miss(str(name or func))
        return func(*args, **(kwargs or {}))

    def _miss(self, what: str) -> None:
        if self.uncounted is None:
            self.uncounted = what
