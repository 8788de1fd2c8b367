"""The shape report as plain data: rows, totals and failure, with a JSON form (no torch needed).

The engine puts `ShapeReport.to_dict()` into its "run started" event and the TUI rebuilds the
report with `from_dict`, so everything here is ints, strings and tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

Shape = tuple[int, ...]
Geometry = tuple[int, ...] | str | None  # kernel/stride/padding; padding may be "same"/"valid"

SCHEMA_VERSION = 1

STATUS_OK = "ok"
STATUS_FAILED = "failed"  # the innermost layer running when the forward raised
STATUS_INCOMPLETE = "incomplete"  # a container of the failed layer, so it never finished


@dataclass
class LayerRow:
    """One call of one module, in execution order."""

    name: str  # qualified name as in named_modules(); "" for the model itself
    type: str  # class name
    depth: int  # 0 for the model, 1 for its children, ... (call nesting)
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    params: int  # every parameter under this module, counted once
    trainable_params: int
    own_params: int  # parameters registered on this module itself
    flops: int | None  # everything run inside this call; None when it never finished
    is_leaf: bool  # no child modules
    status: str = STATUS_OK
    call_index: int = 0  # > 0 when the same module runs again (shared layers)
    collapsed: bool = False  # a container whose children --depth hides
    kernel_size: Geometry = None
    stride: Geometry = None
    padding: Geometry = None
    # Tied weights: of `params` and `own_params`, those an earlier call outside this one counted
    # (at the layer `tied_to`), so the Params column counts each tensor once, as the total does.
    tied_params: int = 0
    own_tied_params: int = 0
    tied_to: str = ""

    @property
    def output_shape(self) -> Shape | None:
        """The first output tensor's shape, the one almost every layer has."""
        return self.output_shapes[0] if self.output_shapes else None

    @property
    def local_name(self) -> str:
        """The last part of the qualified name: `conv1` for `layer1.0.conv1`."""
        return self.name.rsplit(".", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; shapes become lists."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["input_shapes"] = [list(s) for s in self.input_shapes]
        data["output_shapes"] = [list(s) for s in self.output_shapes]
        for key in ("kernel_size", "stride", "padding"):
            data[key] = _geometry_to_json(getattr(self, key))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerRow:
        """Inverse of `to_dict`."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["input_shapes"] = tuple(tuple(s) for s in data.get("input_shapes", ()))
        values["output_shapes"] = tuple(tuple(s) for s in data.get("output_shapes", ()))
        for key in ("kernel_size", "stride", "padding"):
            values[key] = _geometry_from_json(data.get(key))
        return cls(**values)


@dataclass
class Totals:
    """Whole-model numbers for one forward of the traced input."""

    params: int
    trainable_params: int
    frozen_params: int
    param_bytes: int
    buffer_bytes: int
    flops: int  # up to the failure when the forward failed
    macs: int  # FLOPs / 2: FlopCounterMode counts a multiply-add as two
    input_bytes: int
    activation_bytes: int  # sum of leaf outputs' sizes: computed from shapes, any device
    peak_memory_bytes: int | None = None  # measured; only a CUDA trace has it

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        """Inverse of `to_dict`."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ShapeFailure:
    """Where the forward stopped, what the layer wanted, what it got, and what would fit."""

    layer: str  # qualified name of the innermost module running when the error fired
    layer_type: str
    layer_repr: str  # one line: "Linear(in_features=400, out_features=120, bias=True)"
    kind: str  # features | channels | too_small | norm_features | rank | in_forward | error
    explanation: str  # one or two sentences for people
    expected: str | None  # "400 input features (in_features=400)"
    got: str | None  # "1x576 (576 features)"
    hint: str | None  # "--input 1x1x28x28 fits; or Linear(576, 120) would accept 32x32"
    suggested_input: Shape | None  # an input the model accepts, when a search found one
    error_type: str  # the exception's class name
    error: str  # the exception's message, first line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.suggested_input is not None:
            data["suggested_input"] = list(self.suggested_input)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShapeFailure:
        """Inverse of `to_dict`."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("suggested_input") is not None:
            values["suggested_input"] = tuple(values["suggested_input"])
        return cls(**values)


@dataclass
class ShapeReport:
    """Everything `cnntui shapes` knows about one traced forward."""

    model: str
    input_shape: Shape
    dtype: str  # "float32"
    device: str  # what was asked for: cpu, meta, cuda
    traced_on: str  # where tensors really lived: meta, cpu, cuda:0
    rows: list[LayerRow]
    totals: Totals
    failure: ShapeFailure | None = None
    notes: list[str] = field(default_factory=list)
    depth: int | None = None  # the --depth the rows were collapsed to
    preset: str | None = None  # the preset whose net this is (`cnntui shapes vgg11`)
    model_options: dict[str, Any] = field(default_factory=dict)  # as given: preset or -o
    # The exception itself, for --debug; never serialised.
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    # What the forward returned when it was not one tensor ("a dict {'logits': 1x10}"), for a
    # run's check of its model (engine/model_returns.py); not serialised, as the table and JSON
    # show its tensors' shapes (output_shapes) and nothing else reads it.
    returned: str | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """True when the whole forward ran."""
        return self.failure is None

    @property
    def output_shapes(self) -> tuple[Shape, ...]:
        """The model's output shapes (empty when the forward failed)."""
        return self.rows[0].output_shapes if self.rows else ()

    def leaf_rows(self) -> list[LayerRow]:
        """Rows of modules without children (what a flat summary lists)."""
        return [row for row in self.rows if row.is_leaf]

    def collapsed(self, depth: int | None) -> ShapeReport:
        """A copy whose rows stop at `depth`; containers cut there keep their summed numbers.
        The failing layer stays, under its container: it is what the table is for."""
        if depth is None:
            return self
        rows = []
        for row in self.rows:
            if row.depth > depth and row.status != STATUS_FAILED:
                continue
            if row.depth == depth and not row.is_leaf:
                row = replace(row, collapsed=True)
            rows.append(row)
        return replace(self, rows=rows, depth=depth)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the document `cnntui shapes --json` prints."""
        return {
            "version": SCHEMA_VERSION,
            "model": self.model,
            "preset": self.preset,
            "model_options": dict(self.model_options),
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "device": self.device,
            "traced_on": self.traced_on,
            "depth": self.depth,
            "output_shapes": [list(s) for s in self.output_shapes],
            "rows": [row.to_dict() for row in self.rows],
            "totals": self.totals.to_dict(),
            "failure": self.failure.to_dict() if self.failure else None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShapeReport:
        """Inverse of `to_dict`."""
        failure = data.get("failure")
        return cls(
            model=data["model"],
            input_shape=tuple(data["input_shape"]),
            dtype=data["dtype"],
            device=data["device"],
            traced_on=data["traced_on"],
            rows=[LayerRow.from_dict(row) for row in data["rows"]],
            totals=Totals.from_dict(data["totals"]),
            failure=ShapeFailure.from_dict(failure) if failure else None,
            notes=list(data.get("notes", [])),
            depth=data.get("depth"),
            preset=data.get("preset"),
            model_options=dict(data.get("model_options", {})),
        )


def _geometry_to_json(value: Geometry) -> list[int] | str | None:
    return list(value) if isinstance(value, tuple) else value


def _geometry_from_json(value: Any) -> Geometry:
    return tuple(value) if isinstance(value, list) else value
