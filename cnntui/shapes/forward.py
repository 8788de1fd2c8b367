"""One recorded forward pass: every call's shapes, the FLOPs, and the error if it raised."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnntui.shapes.recorder import Call, CallRecorder


@dataclass
class RecordedForward:
    """What one forward did, up to where it stopped."""

    calls: list[Call]
    failing: Call | None  # the innermost module running when the error fired
    exception: Exception | None
    flops: int

    @property
    def ok(self) -> bool:
        """True when the forward returned."""
        return self.exception is None


def run_recorded(model: nn.Module, x: torch.Tensor, count_flops: bool = True) -> RecordedForward:
    """Run `model(x)` without autograd, recording calls; errors are returned, not raised."""
    counter = FlopCounterMode(display=False) if count_flops else None
    read_flops = counter.get_total_flops if counter is not None else (lambda: 0)
    exception: Exception | None = None
    failing: Call | None = None
    with torch.no_grad(), CallRecorder(model, read_flops=read_flops) as recorder:
        try:
            if counter is not None:
                with counter:
                    model(x)
            else:
                model(x)
        except Exception as exc:  # any error is a finding to explain, not a crash
            exception = exc
            failing = recorder.innermost_open()
    return RecordedForward(recorder.calls, failing, exception, read_flops())
