"""`cnntui eval CHECKPOINT`: test accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def eval_command(
    checkpoint: Path, data_dir: str | None, device: str, batch_size: int | None, json_output: bool
) -> int:
    import torch

    from cnntui.config import RunConfig, apply_settings, setting_name
    from cnntui.data import load_data, saved_data_spec
    from cnntui.devices import TRAINS_ON, check_device
    from cnntui.engine.checkpoint import load_checkpoint, load_weights
    from cnntui.engine.evaluate import evaluate
    from cnntui.engine.resume import check_data_dir, check_model_file
    from cnntui.zoo import build_model

    state = load_checkpoint(checkpoint)
    saved = {k: v for k, v in state["config"].items() if k in RunConfig.__dataclass_fields__}
    saved_config = f"{checkpoint} (its saved config)"
    config = apply_settings(RunConfig(), saved, saved_config)
    check_model_file(config.model, saved_config)
    if not data_dir:
        check_data_dir(config, saved_config)
    target = check_device(device, TRAINS_ON, "evaluate a checkpoint")
    data = load_data(
        saved_data_spec(config.dataset, state.get("data_source")),
        device=target,
        batch_size=batch_size or max(config.batch_size, 256),
        data_dir=data_dir or config.data_dir,
        # The run's own data_dir is named as its key there: this command line typed no flag.
        data_dir_name="--data-dir" if data_dir else setting_name(saved_config, "data_dir"),
        resize=config.resize,
        augment=False,
        normalize=config.normalize,
        val_split=config.val_split,
        seed=config.seed,
    )
    passed_over = data.passed_over(data_dir)
    if passed_over:
        print(f"cnntui: warning: {passed_over}", file=sys.stderr)
    model = build_model(
        config.model, data.input_shape[0], data.num_classes, config.model_options
    ).module
    # The file, where a run directory was given: its last.pt.
    read = checkpoint / "last.pt" if checkpoint.is_dir() else checkpoint
    load_weights(model, state["model"], str(read), config.model)
    model.to(target)
    amp, autocast_dtype, note = eval_precision(config.amp, target)
    if note:
        print(f"cnntui: warning: {note}", file=sys.stderr)
    result = evaluate(model, data.test, data.num_classes, target, autocast_dtype)
    report: dict[str, Any] = {
        "checkpoint": str(read),  # the file evaluated, where a run directory was named
        "model": config.model,
        "dataset": config.dataset,
        "data_source": data.source,
        "step": state.get("step"),
        "amp": amp,  # the arithmetic of the forward passes: the run's, where this device has it
        "test_loss": result.loss,
        "test_accuracy": result.accuracy,
        "classes": list(data.classes),
        "per_class_accuracy": result.per_class_accuracy,
        "confusion": result.confusion,
    }
    del torch
    if json_output:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


def eval_precision(amp: str, device: torch.device) -> tuple[str, torch.dtype | None, str | None]:
    """The autocast the run evaluated under (its `amp`), for `eval` to give the numbers the
    run recorded: in float32, a bf16 run's test loss differed in the fourth digit. Returns the
    amp used, its dtype (None: float32) and a warning where this device cannot take the run's."""
    import torch

    from cnntui.engine.setup import AUTOCAST_DTYPES, resolve_amp

    amp = resolve_amp(amp, device)  # a run saves what `auto` became; older ones may not
    dtype = AUTOCAST_DTYPES.get(amp)
    if dtype is None:
        return "off", None, None
    cannot = (dtype is torch.float16 and device.type != "cuda") or (
        dtype is torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    )
    if cannot:
        note = (
            f"the run evaluated under {amp} autocast, which {device} cannot run here; "
            "evaluating in float32, so the numbers may differ slightly from the run's"
        )
        return "off", None, note
    return amp, dtype, None


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from cnntui.pipe_width import print_title, widen_for_pipe

    console = Console()
    # One line however long the data set's name (synthetic:…, folder:PATH): in a pipe rich
    # wraps at 80 columns, and `cnntui eval RUN | head -1` lost the accuracy to the next line.
    # Text, not markup: a folder path may hold [brackets].
    headline = Text.assemble(
        (report["model"], "bold"),
        f" on {report['dataset']} (step {report['step']}): test accuracy ",
        (f"{100 * report['test_accuracy']:.2f}%", "bold"),
        f", loss {report['test_loss']:.4f}",
    )
    console.print(headline, soft_wrap=True)
    classes = report["classes"]
    table = Table()
    table.add_column("class")
    table.add_column("acc", justify="right")
    for i in range(len(classes)):
        table.add_column(str(i), justify="right")
    for i, (name, row) in enumerate(zip(classes, report["confusion"], strict=True)):
        cells = [
            f"[bold green]{v}[/]" if j == i else (str(v) if v else "·") for j, v in enumerate(row)
        ]
        table.add_row(f"{i} {name}", f"{100 * report['per_class_accuracy'][i]:.1f}%", *cells)
    # In a pipe, Fashion-MNIST's matrix wrapped "T-shirt/top" and "Ankle boot" over two rows.
    widen_for_pipe(console, table)
    # On its own line: a table of two or three classes, narrower than it, wrapped it.
    print_title(console, "confusion matrix (rows: true class, columns: predicted)")
    console.print(table)
