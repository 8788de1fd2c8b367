"""One recorded forward pass: every call's shapes, the FLOPs, and what it returned or raised."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from cnntui.shapes.flops import LayerFlops
from cnntui.shapes.param_reads import ParamReads
from cnntui.shapes.recorder import Call, CallRecorder
from cnntui.shapes.returned import returned_structure


@dataclass
class RecordedForward:
    """What one forward did, up to where it stopped."""

    calls: list[Call]
    failing: Call | None  # the innermost module running when the error fired
    exception: Exception | None
    flops: int
    flops_from: str = ""  # "formulas" or "FlopCounterMode": which counter had the last word
    # What the forward returned when that was not one tensor ("a dict {'logits': 1x10}");
    # None for one tensor, or when it raised.
    returned: str | None = None
    # The ids of the parameters it passed to torch calls, its uncalled modules' included.
    read_params: frozenset[int] = frozenset()

    @property
    def ok(self) -> bool:
        """True when the forward returned."""
        return self.exception is None

    def batch_mixed(self, batch: int, batch_dim: int = 0) -> tuple[int, ...] | None:
        """The model's output when it ran but lost the input's batch: a 2-D or larger output
        whose first dimension is not `batch`, as `x.view(-1, 800)` makes of a 1x8x30x30 input
        (9x800). A 1-D output is left alone: `x.squeeze()` drops a batch of 1 on purpose. An
        input with its batch second (`batch_dim` 1, an LSTM's LxNxF) may keep it there (LxNxH)
        or bring it first (the last step's NxH)."""
        if not self.ok or not self.calls or not self.calls[0].output_shapes:
            return None
        output = self.calls[0].output_shapes[0]
        if len(output) < 2 or output[0] == batch:
            return None
        return None if batch_dim == 1 and output[1] == batch else output


def run_recorded(
    model: nn.Module, x: torch.Tensor, count_flops: bool = True, formulas: bool = True
) -> RecordedForward:
    """Run `model(x)` without autograd, recording calls; errors are returned, not raised.

    FLOPs come from the layers' formulas when they account for the whole forward, else from a
    second forward under FlopCounterMode (flops.py says why not always the latter);
    `formulas=False` goes straight to FlopCounterMode.
    """
    if not count_flops:
        return _run(model, x)
    if formulas:
        counter = LayerFlops()
        result = _run(model, x, counter, counter)
        if counter.complete:
            result.flops_from = "formulas"
            return result
    # Imported only here: the module alone pulls in triton, and its mode torch._dynamo.
    from torch.utils.flop_counter import FlopCounterMode

    reference = FlopCounterMode(display=False)
    with unfused_attention(x.device), unfused_rnns(x.device):
        result = _run(model, x, reference, reference.get_total_flops)
    result.flops_from = "FlopCounterMode"
    return result


@contextmanager
def unfused_attention(device: torch.device) -> Iterator[None]:
    """Attention as the matrix products FlopCounterMode counts, not fused kernels it cannot see.

    In eval mode without autograd, nn.MultiheadAttention (and TransformerEncoderLayer) take a
    fast path, one torch._native_multi_head_attention call that FlopCounterMode has no formula
    for, so torchvision's vit_b_16 counted 22.5 G FLOPs of its 35.1 G. On the cpu,
    F.scaled_dot_product_attention runs _scaled_dot_product_flash_attention_for_cpu, also
    uncounted. Training never takes the fast path, and the math kernel is the same products:
    the shapes are those of the fused kernels and the count is that of meta and cuda traces.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        if device.type == "cpu":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel(SDPBackend.MATH):
                yield
        else:
            yield  # cuda's fused kernels have formulas, and its peak memory should be theirs
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


@contextmanager
def unfused_rnns(device: torch.device) -> Iterator[None]:
    """On the cpu, LSTMs as the matrix products FlopCounterMode counts, not oneDNN's kernel.

    With oneDNN (mkldnn) enabled, a cpu nn.LSTM runs one mkldnn_rnn_layer call per layer,
    which FlopCounterMode has no formula for: an LSTM counted 0 FLOPs on the cpu and 172 K on
    meta. Without it the LSTM runs as its gates' matrix products, the meta trace's count.
    """
    if device.type != "cpu":
        yield
        return
    # What torch.backends.mkldnn.enabled sets; its flags() context also sets TF32, and warns.
    enabled = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(False)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(enabled)


def _run(
    model: nn.Module,
    x: torch.Tensor,
    mode: AbstractContextManager[object] | None = None,
    flops: LayerFlops | Callable[[], int] | None = None,
) -> RecordedForward:
    """One forward inside `mode`; `flops` is the formula counter or reads a running total."""
    recorder = CallRecorder(model)
    if isinstance(flops, LayerFlops):
        recorder.read_flops = flops.read
        recorder.on_return = flops.layer_returned
        flops.innermost = recorder.innermost_module
    elif flops is not None:
        recorder.read_flops = flops
    exception: Exception | None = None
    failing: Call | None = None
    returned: str | None = None
    # Under `mode`, which then hands each call on to it: both see every call.
    reads = ParamReads()
    with torch.no_grad(), recorder:
        try:
            with reads, mode or nullcontext():
                output = model(x)
            returned = returned_structure(output)
        except Exception as exc:  # any error is a finding to explain, not a crash
            exception = exc
            failing = recorder.innermost_open()
    return RecordedForward(
        recorder.calls,
        failing,
        exception,
        recorder.read_flops(),
        returned=returned,
        read_params=frozenset(reads.ids),
    )
