"""`cnntui shapes MODEL`: parse the options, build the model, trace it, print the report."""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

from cnntui.errors import EXIT_ERROR, EXIT_OK, UsageError
from cnntui.shapes.inputs import parse_input_shape

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
    # The zoo answers these without torch, so a typo in the name or shape fails fast.
    from cnntui.zoo import default_input

    model_input = default_input(model)
    input_shape = _input_shape(model, input_text, model_input)

    from cnntui.shapes.placement import resolve_device, resolve_dtype

    torch_dtype = resolve_dtype(dtype)
    on_cuda = resolve_device(device).type == "cuda"
    built = _build(model, num_classes, options, on_meta=not on_cuda)

    from cnntui.shapes.trace import trace_model

    report = trace_model(
        built.module,
        input_shape,
        dtype=torch_dtype,
        device=device,
        model_name=built.name,
        default_input=built.default_input,
    ).collapsed(depth)

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


def _input_shape(
    model: str, input_text: str | None, model_input: tuple[int, ...] | None
) -> tuple[int, ...]:
    if input_text is not None:
        return parse_input_shape(input_text, model_input)
    if model_input is None:
        # A typo in the module, file or attribute is the more useful thing to hear first.
        from cnntui.zoo.external import load_user_target

        load_user_target(model)
        raise UsageError(
            f"{model} does not say what input it takes; pass --input, e.g. --input 1x3x224x224"
        )
    return (1, *model_input)


def _build(
    model: str, num_classes: int | None, options: dict[str, Any], on_meta: bool
) -> BuiltModel:
    """Build the model, straight on the meta device when the trace will run there.

    A meta build skips allocating and initialising weights (half a gigabyte and a second for
    VGG-11). Only the zoo and torchvision are built that way: a user's __init__ may need values.
    """
    from cnntui.zoo import build_model

    user_module = ":" in model and not model.startswith("torchvision:")
    if not on_meta or user_module:
        return build_model(model, num_classes=num_classes, options=options)
    import torch

    with torch.device("meta"):
        return build_model(model, num_classes=num_classes, options=options)
