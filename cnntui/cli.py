"""The `cnntui` command line: run, shapes, models, presets, eval, watch.

Every command imports its heavy machinery (torch, Textual) inside its body, so `cnntui --help` and
`cnntui models` start instantly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cnntui.cli_flags import Command, Group, flag
from cnntui.errors import UsageError
from cnntui.key_values import parse_key_values

app = typer.Typer(
    cls=Group,
    name="cnntui",
    help="A terminal UI training monitor for PyTorch CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def show_version(value: bool) -> None:
    if value:
        from cnntui import __version__

        typer.echo(f"cnntui {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        flag("--version", callback=show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """A terminal UI training monitor for PyTorch CNNs."""


ModelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--opt",
        "-o",
        metavar="<key=value>",
        help="Model option KEY=VALUE, repeatable (e.g. -o activation=relu -o pool=max).",
    ),
]


@app.command(cls=Command)
def models(
    json_output: Annotated[bool, flag("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the model zoo with parameter counts and default input shapes."""
    from cnntui.zoo_listing import print_models

    print_models(json_output=json_output)


@app.command(cls=Command)
def shapes(
    model: Annotated[
        str,
        typer.Argument(
            help="Zoo name, torchvision:NAME, module:attr, or file.py:attr; or a preset "
            "(`cnntui presets`), for the net `cnntui run` trains with it."
        ),
    ],
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="<shape>",
            help="Input shape: 1x1x224x224, 1,1,224,224, '(1, 1, 224, 224)', 224 or 224x224 "
            "(batch 1, the model's channels), or 1x784 for a net that flattens its input. "
            "Default: the model's own input, or for a preset its data set's images at its "
            "resize.",
        ),
    ] = None,
    depth: Annotated[
        int | None, typer.Option("--depth", "-d", help="Collapse containers below this depth.")
    ] = None,
    dtype: Annotated[str, typer.Option(help="float32, float16, bfloat16, float64.")] = "float32",
    device: Annotated[
        str,
        typer.Option(
            help="cpu: small inputs on real cpu tensors, large ones on meta tensors (no "
            "memory used); meta: always meta; cuda or cuda:N: real tensors, adds the measured "
            "peak memory. Shapes, params, FLOPs and bytes are the same on all three."
        ),
    ] = "cpu",
    num_classes: Annotated[int | None, typer.Option(help="Output classes.")] = None,
    opt: ModelOption = None,
    json_output: Annotated[bool, flag("--json", help="Print the report as JSON.")] = False,
    debug: Annotated[bool, flag("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Every layer's output shape, parameters and FLOPs, and where shapes stop fitting.

    Exit codes: 0 the input fits, 1 it does not (the table stops at that layer), 2 usage.
    """
    from cnntui.shapes.command import shapes_command

    if num_classes is not None and num_classes < 1:
        raise UsageError(f"--num-classes must be at least 1, got {num_classes}")
    code = shapes_command(
        model=model,
        input_text=input_shape,
        depth=depth,
        dtype=dtype,
        device=device,
        num_classes=num_classes,
        options=parse_key_values(opt, "--opt"),
        json_output=json_output,
        debug=debug,
    )
    raise typer.Exit(code)


@app.command(cls=Command)
def run(
    target: Annotated[
        str | None, typer.Argument(help="A preset (`cnntui presets`) or a model name.")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Preset name or path to a .toml.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="fmnist, mnist, cifar10, folder:PATH, or synthetic (generated; its shape and "
            "classes as synthetic:CxHxW:CLASSES)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs to train.")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", help="Examples per training step.")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    optimizer: Annotated[
        str | None, typer.Option(help="sgd, adam, adamw, rmsprop or a torch.optim class.")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option(help="constant, step, cosine or onecycle.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(metavar="<dir>", help="Folder with the data set files (searched first)."),
    ] = None,
    resize: Annotated[int | None, typer.Option(help="Resize images to this square size.")] = None,
    augment: Annotated[
        bool | None, flag("--augment/--no-augment", help="Random crop and flip.")
    ] = None,
    val_split: Annotated[float | None, typer.Option(help="Fraction held out.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for weights, shuffling and augmentation.")
    ] = None,
    amp: Annotated[
        str | None,
        typer.Option(help="Mixed precision: off, bf16, fp16 (CUDA) or auto (bf16 on a GPU)."),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(help="Stop after this many steps (a smoke test: no final evaluation)."),
    ] = None,
    run_dir: Annotated[
        str | None,
        typer.Option(metavar="<dir>", help="Write the run here: a new or empty directory."),
    ] = None,
    runs_root: Annotated[
        str | None,
        typer.Option(metavar="<dir>", help="Parent of new run directories (default runs/)."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            metavar="<dir|.pt>", help="Continue the run in this directory (or from a .pt file)."
        ),
    ] = None,
    opt: ModelOption = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="<key=value>",
            help="Any preset key KEY=VALUE, repeatable (e.g. --set grad_clip=1). "
            "none unsets an optional number or switch (--set max_steps=none, grad_clip, "
            "resize): a resumed run keeps its own values otherwise. channels_last, "
            "cuda_graph and matmul_stem take true, false or auto (the engine decides).",
        ),
    ] = None,
    headless: Annotated[
        bool,
        flag("--headless", help="No dashboard: progress lines (automatic when not a TTY)."),
    ] = False,
    json_output: Annotated[
        bool, flag("--json", help="Headless, one JSON event per line on stdout.")
    ] = False,
    exit_on_finish: Annotated[
        bool, flag("--exit-on-finish", help="Close the dashboard when training ends.")
    ] = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            help="Data-parallel on N local workers (torch.distributed; one per GPU). "
            "--batch-size is the global batch, split evenly over them."
        ),
    ] = None,
    debug: Annotated[bool, flag("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Train a model: a live dashboard on a terminal, progress or JSON lines otherwise.

    Options left out keep the preset's values (`cnntui presets`), or a bare model's defaults.

    Exit codes: 0 done, 1 error, 2 usage, 3 diverged (NaN/Inf loss), 130 interrupted.
    """
    from cnntui.config import given_path, unset_with_none
    from cnntui.headless import failed_line_on_error
    from cnntui.run_command import run_command

    flags = {
        "dataset": dataset,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "schedule": schedule,
        "device": device,
        "data_dir": data_dir,
        "resize": resize,
        "augment": augment,
        "val_split": val_split,
        "seed": seed,
        "amp": amp,
        "max_steps": max_steps,
        "run_dir": run_dir,
        "runs_root": runs_root,
    }
    with failed_line_on_error(json_output):
        overrides = unset_with_none(parse_key_values(set_, "--set"))
        given_flags = {k: v for k, v in flags.items() if v is not None}
        refuse_set_twice(given_flags, overrides)
        overrides.update(given_flags)
        refuse_run_dir_with_runs_root(overrides)
        given = overrides.get("model_options")
        if opt and (given is None or isinstance(given, dict)):
            # Each -o adds to --set model_options={...}, which it replaced.
            overrides["model_options"] = {**(given or {}), **parse_key_values(opt, "--opt")}
        resume_from = given_path(
            "--resume", resume, "is empty; name the run (or .pt file) to continue"
        )
        if resume_from is not None:
            from cnntui.resume_path import check_resume_path

            check_resume_path(resume_from)
    code = run_command(
        target,
        preset,
        overrides,
        resume=resume_from,
        headless=headless,
        json_output=json_output,
        exit_on_finish=exit_on_finish,
        nproc=nproc,
    )
    raise typer.Exit(code)


def refuse_set_twice(flags: dict[str, Any], settings: dict[str, Any]) -> None:
    """A key given a flag and a --set that disagree: the flag won without a word, and which
    one was meant cannot be known."""
    from cnntui.config import RUN_FLAGS

    for key, value in flags.items():
        if key not in settings or settings[key] == value:
            continue
        said = f"{RUN_FLAGS[key]} {value}"
        if isinstance(value, bool):  # --augment, --no-augment
            said = RUN_FLAGS[key].replace("--", "--" if value else "--no-", 1)
        typed = settings[key]
        typed = str(typed).lower() if isinstance(typed, bool) else typed
        raise UsageError(f"{said} and --set {key}={typed} both set {key}; give it once")


def refuse_run_dir_with_runs_root(settings: dict[str, Any]) -> None:
    """`--runs-root R --run-dir D` wrote the run to D (relative to the current folder), not R/D
    as it reads, and R went unused without a word."""
    run_dir, runs_root = str(settings.get("run_dir") or ""), str(settings.get("runs_root") or "")
    if not run_dir.strip() or not runs_root.strip():
        return  # not both given; an empty one is refused as such, with the config's checks
    raise UsageError(
        f"--run-dir names the run's own folder and --runs-root the folder that new runs are "
        f"made in: give one of them (for a run in {runs_root}, --run-dir "
        f"{Path(runs_root) / Path(run_dir).name})"
    )


@app.command(cls=Command)
def presets(
    json_output: Annotated[bool, flag("--json", help="Print JSON.")] = False,
) -> None:
    """List the bundled training recipes (`cnntui run NAME` uses one)."""
    from cnntui.preset_listing import print_presets

    print_presets(json_output=json_output)


@app.command(name="eval", cls=Command)
def eval_(
    checkpoint: Annotated[str, typer.Argument(help="A .pt checkpoint or a run directory.")],
    data_dir: Annotated[
        str | None, typer.Option(metavar="<dir>", help="Folder with the data set files.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")] = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            "-b",
            min=1,
            help="Examples per batch (default: the run's, at least 256).",
        ),
    ] = None,
    json_output: Annotated[bool, flag("--json", help="Print JSON.")] = False,
    debug: Annotated[bool, flag("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Evaluate a checkpoint on the test set: accuracy per class and the confusion matrix."""
    from cnntui.config import given_path
    from cnntui.eval_command import eval_command

    checkpoint_path = given_path("CHECKPOINT", checkpoint, "is empty; name a .pt file or a run")
    given_path("--data-dir", data_dir)  # refuses an empty one; eval takes the string as typed
    raise typer.Exit(eval_command(checkpoint_path, data_dir, device, batch_size, json_output))


@app.command(cls=Command)
def watch(
    run_dir: Annotated[
        str | None, typer.Argument(help="Run directory (default: the newest under runs/).")
    ] = None,
    runs_root: Annotated[str, typer.Option(help="Where to look for the newest run.")] = "runs",
) -> None:
    """Open the dashboard on a run directory: a live tail of a running job, or a replay."""
    from cnntui.config import given_path

    watched = given_path("RUN_DIR", run_dir, "is empty; name a run directory, or leave it out")
    root = given_path("--runs-root", runs_root)
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        # Textual would write its escape codes into a pipe or a file.
        raise UsageError(
            "watch draws a dashboard and needs a terminal; in a script, read the run's "
            "events.jsonl (one JSON object per line) or summary.json"
        )
    from cnntui.tui.app import watch_dashboard

    raise typer.Exit(watch_dashboard(watched, root))


def main() -> None:
    """Console entry point: user-facing errors become one line and an exit code."""
    from cnntui.entry import run_console

    run_console(app)
