"""Trace one forward of a model into a ShapeReport: rows, totals, and the failure if any.

Meta tensors carry shapes and dtypes but no storage, so `vgg11` on a 64x1x224x224 batch costs no
activation memory there. But the first forward on meta imports torch._dynamo and sympy (about
2 s), while a small input runs through real cpu tensors in milliseconds; so `--device cpu`
traces small inputs for real and large ones on meta. Every number in the report comes from
shapes, so both give the same report but for "traced on".
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from cnntui.errors import CnntuiError, UsageError
from cnntui.shapes.contracts import batch_dim, layer_geometry
from cnntui.shapes.diagnose import explain_failure
from cnntui.shapes.forward import RecordedForward, run_recorded
from cnntui.shapes.inputs import MAX_DIM, MAX_ELEMENTS
from cnntui.shapes.placement import (
    dtype_name,
    meta_cannot_run,
    placed_copy,
    resolve_device,
    resolve_dtype,
)
from cnntui.shapes.recorder import Call, is_leaf
from cnntui.shapes.report import (
    STATUS_FAILED,
    STATUS_INCOMPLETE,
    STATUS_OK,
    LayerRow,
    Shape,
    ShapeReport,
    Totals,
)
from cnntui.shapes.search import SizeProbe
from cnntui.shapes.tied import built, find_ties, tie_notes
from cnntui.shapes.tokens import traced_input
from cnntui.shapes.uncalled import uncalled_notes
from cnntui.shapes.units import format_shape
from cnntui.zoo.lazy import materialized_copy

META = torch.device("meta")
CPU = torch.device("cpu")

# Real cpu tensors trace inputs up to this size (AlexNet on 16x1x224x224: 0.5 s); a 64x3x224x224
# batch through a VGG would need gigabytes of activations and seconds of compute.
REAL_MAX_ELEMENTS = 1 << 20
# ...and models up to this many parameters (VGG-11 has 129 M): a real trace holds them all.
REAL_MAX_PARAMS = 1 << 27


def trace_model(
    module: nn.Module,
    input_shape: Sequence[int],
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    *,
    model_name: str | None = None,
    default_input: Sequence[int] | None = None,
    search_sizes: bool = True,
) -> ShapeReport:
    """Trace `module` on an input of `input_shape` and report every layer; never modifies `module`.

    `device` "meta" traces on meta tensors (no memory, any batch size). "cpu" traces small
    float32 inputs on real cpu tensors and the rest on meta, and falls back to real cpu tensors
    for small inputs when meta cannot run the model. "cuda" runs real tensors and measures peak
    memory. `default_input` (C, H, W) lets failure hints name the model's own size;
    `search_sizes` lets them trace other sizes to find ones that fit.
    """
    shape = _checked_shape(input_shape)
    # A torch.compile wrapper would compile the trace itself; its original module has the layers.
    if type(module).__name__ == "OptimizedModule" and hasattr(module, "_orig_mod"):
        module = cast(nn.Module, module._orig_mod)
    name = model_name or type(module).__name__
    torch_dtype = resolve_dtype(dtype)
    torch_device = resolve_device(device)
    default = tuple(default_input) if default_input is not None else None
    try:
        # d2l's style: lazy layers, which hold no parameters until a first forward.
        module = materialized_copy(module, (1, *shape[1:]))
    except Exception as exc:
        if math.prod(shape) > REAL_MAX_ELEMENTS:
            raise UsageError(
                f"{name}: its lazy layers could not be built for input {format_shape(shape)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        return _unbuilt_lazy_report(module, shape, name, str(device), default)
    trace_on = functools.partial(
        _trace_on,
        module=module,
        shape=shape,
        dtype=torch_dtype,
        model_name=name,
        requested=str(device),
        default_input=default,
        search_sizes=search_sizes,
    )
    if torch_device.type == "cuda":
        return trace_on(torch_device)
    if torch_device.type == "cpu" and _real_trace_is_cheap(module, shape, torch_dtype):
        # A failure is explained from this same cpu trace (only the size search runs on meta),
        # so the report says where its rows came from.
        return trace_on(CPU)

    report = trace_on(META)
    if report.failure is None or not meta_cannot_run(report.exception):
        return report
    reason = report.failure.error
    if torch_device.type == "meta":
        raise CnntuiError(
            f"{name} cannot be traced on the meta device ({reason}); "
            "use --device cpu to trace it with real tensors"
        )
    if math.prod(shape) > REAL_MAX_ELEMENTS:
        smaller = format_shape((1, *shape[1:]))
        raise CnntuiError(
            f"{name} cannot be traced on the meta device ({reason}), and {format_shape(shape)} "
            f"is too big to trace with real tensors on the cpu; try --input {smaller}"
        )
    report = trace_on(CPU)
    report.notes.append(f"traced with real cpu tensors: the meta device cannot run it ({reason})")
    return report


def _trace_on(
    device: torch.device,
    *,
    module: nn.Module,
    shape: Shape,
    dtype: torch.dtype,
    model_name: str,
    requested: str,
    default_input: Shape | None,
    search_sizes: bool,
) -> ShapeReport:
    """The report of a trace on `device`, its failure explained."""
    model = placed_copy(module, device, dtype)
    x, vocabulary = traced_input(model, shape, device, dtype)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    result = run_recorded(model, x)
    peak = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)

    failure = None
    if result.exception is not None:
        probe = None
        # A model meta cannot run gets traced again on cpu; searching sizes on meta is futile.
        meta_limited = device.type == "meta" and meta_cannot_run(result.exception)
        if search_sizes and not meta_limited:
            meta_model = model if device.type == "meta" else placed_copy(module, META, dtype)
            probe = SizeProbe(meta_model, shape, dtype, vocabulary)
        failure = explain_failure(result, shape, model_name, default_input, probe)
    notes = []
    if vocabulary is not None:
        notes.append(
            f"The input is {format_shape(shape)} random token ids below "
            f"{vocabulary}, the size of the embedding the model starts with."
        )
    rows = build_rows(result)
    notes.extend(tie_notes(rows))
    notes.extend(uncalled_notes(model, result))
    at = batch_dim(model, shape, (call.module for call in result.calls))
    batch = shape[at]
    mixed = result.batch_mixed(batch, at)
    if mixed is not None:
        notes.append(
            f"The output {format_shape(mixed)} has {mixed[0]} rows for a batch of {batch}: "
            "the forward mixes samples, as a reshape with -1 for the batch (x.view(-1, N)) "
            "does when N is not the per-sample size; x.flatten(1) keeps one row per sample."
        )
    return ShapeReport(
        model=model_name,
        input_shape=shape,
        dtype=dtype_name(dtype),
        device=requested,
        traced_on=_device_label(device),
        rows=rows,
        totals=build_totals(model, x, result, peak),
        failure=failure,
        notes=notes,
        exception=result.exception,
        returned=result.returned,
    )


def _unbuilt_lazy_report(
    module: nn.Module, shape: Shape, model_name: str, requested: str, default_input: Shape | None
) -> ShapeReport:
    """The report of a lazy net whose building forward failed: the layers up to the failure,
    which that forward built, and the failure explained. Its meta copies could not be built
    at other sizes, so no size is searched; float32 on the cpu, as the building forward ran."""
    model = copy.deepcopy(module).eval()
    x, _ = traced_input(model, shape, CPU, torch.float32)
    result = run_recorded(model, x)
    notes = []
    if any(is_lazy(p) for p in model.parameters()):
        notes.append(
            "The lazy layers after the failure have no parameters yet: the counts leave them out."
        )
    rows = build_rows(result)
    notes.extend(tie_notes(rows))
    return ShapeReport(
        model=model_name,
        input_shape=shape,
        dtype=dtype_name(torch.float32),
        device=requested,
        traced_on=_device_label(CPU),
        rows=rows,
        totals=build_totals(model, x, result, None),
        failure=explain_failure(result, shape, model_name, default_input)
        if result.exception is not None
        else None,
        notes=notes,
        exception=result.exception,
        returned=result.returned,
    )


def build_rows(result: RecordedForward) -> list[LayerRow]:
    """One row per module call, in the order the calls started."""
    param_counts: dict[int, tuple[int, int, int]] = {}
    rows = []
    for call, tie in zip(result.calls, find_ties(result.calls), strict=True):
        params, trainable, own = _param_counts(call.module, param_counts)
        kernel, stride, padding = layer_geometry(call.module)
        rows.append(
            LayerRow(
                name=call.name,
                type=type(call.module).__name__,
                depth=call.depth,
                input_shapes=call.input_shapes,
                output_shapes=call.output_shapes,
                params=params,
                trainable_params=trainable,
                own_params=own,
                flops=call.flops,
                is_leaf=is_leaf(call.module),
                status=_status(call, result.failing),
                call_index=call.call_index,
                kernel_size=kernel,
                stride=stride,
                padding=padding,
                tied_params=tie.params,
                own_tied_params=tie.own_params,
                tied_to=tie.counted_at,
            )
        )
    return rows


def build_totals(
    model: nn.Module, x: torch.Tensor, result: RecordedForward, peak: int | None
) -> Totals:
    """Whole-model counts; activation bytes are the leaf outputs of this one forward."""
    params = built(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return Totals(
        params=total,
        trainable_params=trainable,
        frozen_params=total - trainable,
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        buffer_bytes=sum(b.numel() * b.element_size() for b in built(model.buffers())),
        flops=result.flops,
        macs=result.flops // 2,
        input_bytes=x.numel() * x.element_size(),
        activation_bytes=sum(
            call.output_bytes for call in result.calls if call.done and is_leaf(call.module)
        ),
        peak_memory_bytes=peak,
    )


def _param_counts(
    module: nn.Module, cache: dict[int, tuple[int, int, int]]
) -> tuple[int, int, int]:
    """(all, trainable, own) parameter counts of a module, each parameter counted once."""
    if id(module) not in cache:
        params = built(module.parameters())
        cache[id(module)] = (
            sum(p.numel() for p in params),
            sum(p.numel() for p in params if p.requires_grad),
            sum(p.numel() for p in built(module.parameters(recurse=False))),
        )
    return cache[id(module)]


def _status(call: Call, failing: Call | None) -> str:
    if call.done:
        return STATUS_OK
    return STATUS_FAILED if call is failing else STATUS_INCOMPLETE


def _real_trace_is_cheap(module: nn.Module, shape: Shape, dtype: torch.dtype) -> bool:
    """Whether a real cpu forward costs less than the first meta forward's imports.

    float32 only: half-precision kernels on the cpu are slow or missing.
    """
    if dtype != torch.float32 or math.prod(shape) > REAL_MAX_ELEMENTS:
        return False
    return sum(p.numel() for p in module.parameters()) <= REAL_MAX_PARAMS


def _device_label(device: torch.device) -> str:
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def _checked_shape(input_shape: Sequence[int]) -> Shape:
    """The same limits as `--input`, for callers that pass a shape directly."""
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 or d > MAX_DIM for d in shape) or math.prod(shape) > MAX_ELEMENTS:
        raise UsageError(f"cannot trace input shape {shape}: sizes must be 1..{MAX_DIM:,}")
    return shape
