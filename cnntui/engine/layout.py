"""Pick the memory layout (channels_last or not) that trains a given conv net faster here.

On CUDA, cuDNN's tensor-core kernels want channels_last, and the layout pays for its conversions
once convolutions are wide: AlexNet, VGG and ResNet train faster in it. With a handful of channels
it does not (d2l's LeNet, 6 and 16 channels, on an H100 with the step in a CUDA graph: 537,000
examples/s contiguous against 463,000 in channels_last), so narrow nets stay contiguous. Timing
cannot decide on a GPU: eager passes of a small net measure the launch overhead, not the kernels.

On the CPU it depends on the net: oneDNN runs d2l's LeNet 1.5x faster in channels_last, but LeNet
with batch norm over 6 and 16 channels 20% slower. So on the CPU we time a few forward/backward
passes both ways, on a copy of the model, and keep the faster one. The passes are sized to the
net: 256 examples for LeNet (a few milliseconds each), a handful for ResNet-18 at 96 pixels, whose
pass over 256 examples takes 10 s on 2 cores (the probe took 100 s before it was sized). A net
too big to time even on a handful follows the GPU's rule.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from cnntui.engine.timing import best_seconds_per_call

WIDE_CONV_CHANNELS = 32  # a conv whose input has this many channels is "wide" (on CUDA)
MAX_TUNE_EXAMPLES = 256  # enough to rank the layouts of a small net
MIN_TUNE_EXAMPLES = 4
PASS_SECONDS = 0.2  # a timed pass lasts up to this: the whole probe stays around 2 s


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def has_wide_convs(model: nn.Module) -> bool:
    """Whether most convolutions past the first (which reads the image) have wide inputs."""
    inner = [m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)][1:]
    return bool(inner) and sum(c >= WIDE_CONV_CHANNELS for c in inner) * 2 > len(inner)


def layout_by_rule(model: nn.Module, device: torch.device) -> bool | None:
    """The layout where no timing is needed (see the module docstring); None where only timing
    can tell: a conv net on the CPU."""
    if not has_conv(model) or device.type not in ("cpu", "cuda"):
        return False
    if device.type == "cuda":
        return has_wide_convs(model)
    return None


def prefer_channels_last(
    model: nn.Module, sample: torch.Tensor, targets: torch.Tensor, device: torch.device
) -> bool:
    """True when channels_last is the faster layout for training `model` on `device`."""
    ruled = layout_by_rule(model, device)
    if ruled is not None:
        return ruled
    with torch.random.fork_rng(devices=[]):  # dropout in the probe must not shift the run's RNG
        examples = _examples_per_pass(model, sample, targets)
        if examples is None:
            return has_wide_convs(model)
        sample, targets = sample[:examples], targets[:examples]
        contiguous = _seconds_per_pass(model, sample, targets, channels_last=False)
        channels_last = _seconds_per_pass(model, sample, targets, channels_last=True)
    return channels_last < contiguous


def _examples_per_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int | None:
    """How many examples a timed pass takes to last about PASS_SECONDS, from a warm pass over a
    few; None when even a few take several times that."""
    few = min(len(x), MIN_TUNE_EXAMPLES)
    seconds = _seconds_per_pass(model, x[:few], y[:few], channels_last=False, rounds=1)
    if seconds > 5 * PASS_SECONDS:
        return None
    fitting = int(PASS_SECONDS / max(seconds, 1e-9) * few)
    return max(few, min(fitting, MAX_TUNE_EXAMPLES, len(x)))


def _seconds_per_pass(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, channels_last: bool, rounds: int = 3
) -> float:
    probe = copy.deepcopy(model).train()
    if channels_last:
        probe = probe.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss()

    def one_pass() -> None:
        loss_fn(probe(x), y).backward()
        probe.zero_grad(set_to_none=True)

    return best_seconds_per_call(one_pass, x.device, rounds=rounds)
