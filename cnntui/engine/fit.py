"""Before training: the layer shapes for the dashboard, and a plain refusal when the data's
images do not fit the model.

Without this check such a run fails deep in setup (the layout probe's forward) or at step 0
with torch's own words ("mat1 and mat2 shapes cannot be multiplied"), after the run directory
exists. The shape tracer already knows which layer breaks and which sizes would fit; a run
says so in terms of its own options and points at `cnntui shapes` for the whole table.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnntui.errors import UsageError
from cnntui.shapes.report import ShapeFailure

# Failures that mean the data's images do not fit the model. Others ("in_forward", "error")
# may be the tracer's limits with an unusual model: such a run goes on and shows its own error.
MISFIT_KINDS = frozenset({"features", "too_small", "norm_features", "channels", "rank"})


def checked_shapes(
    model: nn.Module,
    model_name: str,
    default_input: tuple[int, ...] | None,
    image_shape: tuple[int, int, int],
    dataset: str,
    model_options: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The shapes report of one example as a dict (None when the tracer cannot run the model);
    raises UsageError when the images cannot go through it."""
    from cnntui.shapes import trace_model

    input_shape = (1, *image_shape)
    try:
        # "cpu": one example's forward on real cpu tensors, 0.1 s for AlexNet; the first forward
        # on meta imports sympy and torch._dynamo, 2 s before the first step. The forked RNG
        # keeps a seed's weights the same whether the trace draws random numbers or not.
        with torch.random.fork_rng(devices=[]):
            report = trace_model(
                model, input_shape, device="cpu", model_name=model_name, default_input=default_input
            )
    except UsageError:
        raise  # the tracer's own plain words: a lazy net that these images cannot build
    except Exception:
        return None
    failure = report.failure
    if failure is not None and failure.kind in MISFIT_KINDS:
        raise UsageError(
            misfit_message(model_name, dataset, input_shape, failure, model_options or {})
        )
    return report.to_dict()


def misfit_message(
    model_name: str,
    dataset: str,
    input_shape: tuple[int, int, int, int],
    failure: ShapeFailure,
    model_options: dict[str, Any],
) -> str:
    """What does not fit, in the run's own terms: its images, --resize, and the shapes command."""
    channels = input_shape[1]
    image = "x".join(str(side) for side in input_shape[1:])
    lines = [f"{model_name} cannot train on {dataset}'s {image} images: {failure.explanation}"]
    fits = failure.suggested_input
    if fits is not None and len(fits) == 4 and fits[1] == channels and fits[2] == fits[3]:
        lines.append(f"Images of {fits[2]}x{fits[3]} fit it: --resize {fits[2]}.")
    elif fits is not None and len(fits) >= 2 and fits[1] != channels:
        lines.append(
            f"It takes {fits[1]}-channel images and {dataset}'s have {channels}: "
            "pick a model and a data set that agree."
        )
    shape = "x".join(str(side) for side in input_shape)
    # With the run's options, or the command would show another net than the one refused.
    options = "".join(f" -o {key}={value}" for key, value in model_options.items())
    lines.append(f"Every layer's shape: cnntui shapes {model_name} --input {shape}{options}")
    return "\n".join(lines)
