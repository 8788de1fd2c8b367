"""Before training: the layer shapes for the dashboard, and a plain refusal when the data's
images do not fit the model, or its output is not one row of class scores per image.

Without this check such a run fails deep in setup (the layout probe's forward) or at step 0
with torch's own words ("mat1 and mat2 shapes cannot be multiplied"), after the run directory
exists. The shape tracer already knows which layer breaks and which sizes would fit; a run
says so in terms of its own options and points at `cnntui shapes` for the whole table.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnntui.engine.model_returns import returns_problem
from cnntui.errors import UsageError
from cnntui.shapes.report import ShapeFailure
from cnntui.shapes.units import format_shape, format_shapes

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
    num_classes: int | None = None,
) -> dict[str, Any] | None:
    """The shapes report of one example as a dict (None when the tracer cannot run the model);
    raises UsageError when the images cannot go through it, or (given `num_classes`) when what
    comes out is not 1 x num_classes scores."""
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
    if failure is None and num_classes is not None:
        # What it returns first: a dict of one tensor has the shapes of a tensor.
        returned = returns_problem(model, image_shape, num_classes, report.returned)
        if returned is not None:
            raise UsageError(f"{model_name} {returned}")
        problem = output_problem(report.output_shapes, num_classes, dataset)
        if problem is not None:
            command = shapes_command(model_name, input_shape, model_options or {})
            raise UsageError(f"{model_name} {problem}\nEvery layer's shape: {command}")
    return report.to_dict()


def output_problem(
    outputs: tuple[tuple[int, ...], ...], num_classes: int, dataset: str
) -> str | None:
    """What is wrong with the output shapes of a forward of one image, as the rest of a
    sentence that starts with the model's name; None when it is the 1 x num_classes a run
    trains on.

    Without this, such a model fails at step 0 in torch's words ("Target 9 is out of bounds",
    "must be Tensor, not tuple"), or in the set-up's layout probe with a traceback, or (too many
    scores) trains in silence on logits that no label names."""
    wanted = f"1x{num_classes}"
    if len(outputs) > 1:
        return (
            f"returns {len(outputs)} tensors ({format_shapes(outputs)}), and a run trains on "
            f"one: the class scores, {wanted} for one image"
        )
    if not outputs:
        return f"returns no tensor; a run trains on the class scores, {wanted} for one image"
    shape = outputs[0]
    if len(shape) == 2 and shape[0] == 1:
        if shape[1] == num_classes:
            return None
        return (
            f"gives {shape[1]} class scores per image but {dataset} has {num_classes} classes: "
            f"its last layer should give {num_classes} (a class or function that takes "
            "num_classes is given the data set's)"
        )
    return (
        f"gives {format_shape(shape)} for one image where a run needs {wanted}: one row of "
        f"{num_classes} class scores per image (a conv net ends in Flatten or global pooling "
        "and a Linear layer)"
    )


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
    lines.append(f"Every layer's shape: {shapes_command(model_name, input_shape, model_options)}")
    return "\n".join(lines)


def shapes_command(
    model_name: str, input_shape: tuple[int, ...], model_options: dict[str, Any]
) -> str:
    """The `cnntui shapes` line that shows the net the run would train, layer by layer."""
    # With the run's options, or the command would show another net than the one refused.
    options = "".join(f" -o {key}={value}" for key, value in model_options.items())
    return f"cnntui shapes {model_name} --input {format_shape(input_shape)}{options}"
