"""`cnntui shapes NAME`: resolve the model or preset, build it, trace it, print the report."""

from __future__ import annotations

import sys
import traceback
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cnntui.errors import EXIT_ERROR, EXIT_OK, UsageError
from cnntui.shapes.inputs import parse_input_shape
from cnntui.shapes.target import ShapesTarget, missing_input, resolve_target

if TYPE_CHECKING:
    from cnntui.zoo import BuiltModel


def shapes_command(
    model: str,
    input_text: str | None,
    depth: int | None,
    dtype: str,
    device: str,
    num_classes: int | None,
    options: dict[str, Any],
    json_output: bool,
    debug: bool,
) -> int:
    """Run `cnntui shapes` and return its exit code; usage errors raise UsageError."""
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, got {depth}")
    # Before the model is built: a typo in a name or a shape fails in a moment.
    target = resolve_target(model, options)
    input_shape = _input_shape(target, input_text)

    from cnntui.shapes.placement import resolve_device, resolve_dtype

    torch_dtype = resolve_dtype(dtype)
    on_cuda = resolve_device(device).type == "cuda"
    classes = num_classes if num_classes is not None else target.num_classes
    built = _build(target, classes, on_meta=not on_cuda, classes_asked=num_classes is not None)
    if input_text is not None and target.image is None:
        # Only the built model tells a net of Conv1d or LSTM layers (three sizes are its whole
        # NxCxL input) from an image net (CxHxW, batch 1).
        as_sequences = parse_input_shape(input_text, sequence=True)
        if as_sequences != input_shape:
            from cnntui.shapes.layout import reads_as_sequences

            if reads_as_sequences(built.module, as_sequences, input_shape):
                input_shape = as_sequences

    from cnntui.shapes.trace import trace_model

    report = trace_model(
        built.module,
        input_shape,
        dtype=torch_dtype,
        device=device,
        model_name=built.name,
        default_input=built.default_input,
    )
    # The header says which preset and options made this net, which the bare name may not.
    report = replace(report, preset=target.preset, model_options=target.options).collapsed(depth)

    if json_output:
        from cnntui.shapes.render import report_json

        print(report_json(report))
    else:
        from rich.console import Console

        from cnntui.shapes.render import print_report

        print_report(report, Console(highlight=False))
    if debug and report.exception is not None:
        traceback.print_exception(report.exception, file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_ERROR


def _input_shape(target: ShapesTarget, input_text: str | None) -> tuple[int, ...]:
    if input_text is not None:
        return parse_input_shape(input_text, target.image, target.takes_features)
    if target.image is not None:
        return (1, *target.image)
    if target.preset is None:
        # A typo in the module, file or attribute is the more useful thing to hear first.
        from cnntui.zoo.external import load_user_target

        load_user_target(target.model)
    raise missing_input(target)


def _build(
    target: ShapesTarget, num_classes: int | None, on_meta: bool, classes_asked: bool
) -> BuiltModel:
    """Build the model, straight on the meta device when the trace will run there.

    A meta build skips allocating and initialising weights (half a gigabyte and a second for
    VGG-11). Only the zoo and torchvision are built that way: a user's __init__ may need values.
    """
    from cnntui.zoo import build_model

    def build() -> BuiltModel:
        return build_model(
            target.model,
            in_channels=target.in_channels,
            num_classes=num_classes,
            options=target.options,
            classes_asked=classes_asked,
        )

    user_module = ":" in target.model and not target.model.startswith("torchvision:")
    if not on_meta or user_module:
        return build()
    import torch

    try:
        with torch.device("meta"):
            return build()
    except UsageError:
        raise  # a bad name or option: building anywhere else fails the same way
    except Exception:
        # Some builders compute with tensors and read the values back: torchvision's RegNets
        # call .tolist() on widths made with torch.pow, which meta tensors cannot give. Such
        # a net is built for real; the trace still runs wherever trace_model chooses.
        return build()
