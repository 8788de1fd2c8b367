"""Everything a run needs before its first step: device, seed, data, model, optimiser, and the
checkpoint put back when resuming (cnntui.engine.resume)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from cnntui.config import COMMAND_LINE, RunConfig, setting_name
from cnntui.devices import TRAINS_ON, check_device
from cnntui.engine import distributed
from cnntui.engine.avg_pool import use_strided_avg_pools
from cnntui.engine.distributed import SINGLE, DistContext
from cnntui.engine.events import RunStarted
from cnntui.engine.fit import checked_shapes
from cnntui.engine.optim import build_optimizer, build_schedule, initialize_weights
from cnntui.engine.pool_relu import (
    prewarm_fused_kernels,
    run_relus_after_max_pools,
    wait_for_prewarm,
)
from cnntui.engine.resume import SAVED_CONFIG, restore, resumed_config
from cnntui.errors import UsageError
from cnntui.run_dirs import (
    check_can_create,
    check_new_run_dir,
    make_dir,
    new_run_dir,
)
from cnntui.zoo import build_model
from cnntui.zoo.lazy import materialize


@dataclass
class RunSetup:
    config: RunConfig
    device: torch.device
    model: nn.Module
    data: Any  # cnntui.data.DataBundle
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    autocast_dtype: torch.dtype | None
    run_dir: Path | None
    shapes: dict[str, Any] | None
    num_params: int
    eager_model: nn.Module | None = None  # the uncompiled module when config.compile is set
    cuda_graph: bool = False  # the training step is captured and replayed (cnntui.engine.graph)
    cuda_graph_note: str | None = None  # why (not), for the log
    stem_note: str | None = None  # the first convolution runs as im2col + GEMM, for the log
    pool_first_pairs: int = 0  # ReLU + max-pool pairs run pooled first (pool_relu.py)
    resume_note: str | None = None  # a later last.pt kept aside (resumed from best.pt), for the log
    data_note: str | None = None  # data_dir was not where the data came from, for the log
    start_step: int = 0
    start_epoch: int = 0
    start_batch: int = 0  # batches of `start_epoch` already done (mid-epoch resume)
    epochs_before: int = 0  # epochs finished before this process, not in `history`
    best_accuracy: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # the epochs' summaries so far
    epoch_progress: dict[str, float] | None = None  # the half-done epoch's sums, when resuming
    totals: dict[str, float] = field(default_factory=dict)  # examples and seconds before it
    dist: DistContext = SINGLE

    def started_event(self) -> RunStarted:
        config = self.config
        return RunStarted(
            run_name=self.run_dir.name if self.run_dir else (config.name or config.model),
            run_dir=str(self.run_dir) if self.run_dir else "",
            model=config.model,
            dataset=config.dataset,
            device=str(self.device),
            device_name=device_name(self.device),
            epochs=config.epochs,
            steps_per_epoch=len(self.data.train),
            batch_size=config.batch_size,
            num_params=self.num_params,
            classes=list(self.data.classes),
            config=config.to_dict(),
            shapes=self.shapes,
            data=self.data.as_dict(),
            start_step=self.start_step,
            world_size=self.dist.world_size,
        )


def resolve_device(name: str) -> torch.device:
    """The device a run trains on: auto, cpu, cuda, cuda:N or mps, checked to exist here."""
    return check_device(name, TRAINS_ON, "train a run")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def use_channels_last(config: RunConfig, model: nn.Module, data: Any, device: torch.device) -> bool:
    if config.channels_last is not None:
        return config.channels_last
    from cnntui.engine.layout import layout_by_rule, prefer_channels_last

    ruled = layout_by_rule(model, device)  # no conv, or CUDA: the same in every run
    if ruled is not None:
        return ruled
    if config.deterministic or distributed.context_from_env().enabled:
        # A timing-based choice could differ between two runs of the same seed, or two ranks.
        return False
    x, y = next(iter(data.train))
    return prefer_channels_last(model, x, y, device)


def use_cuda_graph(
    config: RunConfig, device: torch.device, dist: DistContext
) -> tuple[bool, str | None]:
    """Whether the training step is captured, and a line for the log on a GPU saying why (not).

    Asking for a graph where none can be is an error."""
    from cnntui.engine.graph import graph_blocker

    blocker = graph_blocker(config, device, dist)
    if config.cuda_graph and blocker is not None:
        raise UsageError(f"cuda_graph=true cannot be honoured: {blocker}")
    if config.cuda_graph is False:
        return False, "CUDA graph off (cuda_graph=false): the step runs eagerly"
    if blocker is not None:
        note = f"CUDA graph off: {blocker}" if device.type == "cuda" else None
        return False, note
    return True, "the training step replays as one CUDA graph (--set cuda_graph=false: eager)"


def resolve_amp(amp: str, device: torch.device) -> str:
    """`auto` is bf16 where it pays: CUDA GPUs with bf16 tensor cores (Ampere and later). CPUs
    without bf16 units run it several times slower, so there it means off."""
    if amp != "auto":
        return amp
    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return "bf16"
    return "off"


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # "off": no autocast


def matmul_stem_note(
    config: RunConfig,
    model: nn.Module,
    device: torch.device,
    batch_shape: tuple[int, ...],
    autocast_dtype: torch.dtype | None,
) -> str | None:
    """Run the first convolution as im2col + GEMM where cuDNN is slower at it
    (cnntui.engine.stem). Left to `auto`, only on CUDA in channels_last (the layout its result
    comes in), and only where timing both ways on this GPU says so. A line for the log if so."""
    from cnntui.engine.stem import stem_conv, time_both_ways, use_matmul_stem

    stem = stem_conv(model)
    if stem is None or config.matmul_stem is False or stem.in_channels != batch_shape[1]:
        return None  # (the first conv registered may not be the one that reads the image)
    timing = ""
    if config.matmul_stem is None:
        if device.type != "cuda" or not config.channels_last or config.deterministic:
            return None
        wait_for_prewarm()  # a compile beside it would skew the timing
        ordinary, matmul = time_both_ways(stem, batch_shape, autocast_dtype)
        if matmul >= ordinary:
            return None
        timing = f" ({matmul * 1e3:.2f} ms a batch against cuDNN's {ordinary * 1e3:.2f})"
    use_matmul_stem(model)
    return (
        f"the first convolution runs as im2col + one GEMM{timing}; "
        "--set matmul_stem=false keeps it ordinary"
    )


def seed_everything(seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def use_cudnn_benchmark(config: RunConfig, model: nn.Module) -> bool:
    """Let cuDNN time its kernels for the training batch's shapes (the first full batch; later
    shapes use its heuristics: step.stop_autotuning) when convolutions are wide enough to
    dominate the step. For narrow nets the timing costs more than it can win: LeNet on an H100
    trains its first epoch in 0.73 s without it and 0.97 s with it, and every later epoch in the
    same 0.088 s either way."""
    from cnntui.engine.layout import has_wide_convs

    return not config.deterministic and has_wide_convs(model)


def prepare_run(
    config: RunConfig,
    resume_state: dict[str, Any] | None,
    resume_dir: Path | None,
    write_run_dir: bool,
    resume_overrides: dict[str, Any] | None = None,
    sources: dict[str, str] | None = None,
) -> RunSetup:
    """The run set up: `resume_state` read from a checkpoint in `resume_dir` (which no other
    process trains in: `Trainer.setup` checked), or a new run. `sources` says where each key
    of a new run's config was set (`load_config_with_sources`); unnamed keys, the command line."""
    sources = dict(sources or {})
    if resume_state is not None:
        config = resumed_config(resume_state, resume_overrides or {})
        sources = dict.fromkeys(resume_state["config"], SAVED_CONFIG)
        sources.update(dict.fromkeys(resume_overrides or {}, COMMAND_LINE))
    # A data_dir from a preset (or the resumed run) is named by its key: the user typed no flag.
    data_dir_name = setting_name(sources.get("data_dir", COMMAND_LINE), "data_dir")
    dist = distributed.context_from_env()
    if resume_state is None and write_run_dir and dist.is_main:
        # Before seconds of set-up: a run_dir from a preset or the Python API gets the same
        # refusal as --run-dir.
        if config.run_dir_path is not None:
            check_new_run_dir(config.run_dir_path)
        else:
            check_can_create(config.runs_root_path, "--runs-root")
    device = distributed.rank_device(resolve_device(config.device), dist)
    distributed.init_process_group(dist, device)
    seed_everything(config.seed, config.deterministic)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    from cnntui.data import load_data, saved_data_spec

    data = load_data(
        # A resumed run reads the data where it was read before: a relative folder:PATH was
        # relative to the folder the run was started in.
        config.dataset
        if resume_state is None
        else saved_data_spec(config.dataset, resume_state.get("data_source")),
        device=device,
        batch_size=config.batch_size,
        data_dir=config.data_dir,
        data_dir_name=data_dir_name,
        resize=config.resize,
        augment=bool(config.augment),
        normalize=config.normalize,
        val_split=config.val_split,
        seed=config.seed,
        # Batches stay contiguous whatever the model's layout (the first conv converts them), so
        # a run and its resumption feed identical tensors.
        channels_last=False,
    )
    built = build_model(
        config.model,
        in_channels=data.input_shape[0],
        num_classes=data.num_classes,
        options=config.model_options,
    )
    model = built.module
    # Lazy layers get their parameters from a first forward. Images that do not fit make it
    # raise: the shape check below says so in plain words.
    with contextlib.suppress(Exception):
        materialize(model, (1, *data.input_shape))
    # Before anything runs the model (the layout probe, the first step) or the run directory
    # exists: images that cannot go through it are a usage error, said in plain words.
    shapes = checked_shapes(
        model,
        config.model,
        built.default_input,
        data.input_shape,
        config.dataset,
        config.model_options,
        num_classes=data.num_classes,
    )
    # Written back like the layout: a resumed run keeps the arithmetic it started with.
    config = dataclasses.replace(config, amp=resolve_amp(config.amp, device))
    autocast_dtype = AUTOCAST_DTYPES.get(config.amp)
    if autocast_dtype is torch.float16 and device.type != "cuda":
        raise UsageError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")
    pool_first_pairs = 0 if config.compile else run_relus_after_max_pools(model)
    if device.type == "cpu" and not config.compile:  # before the layout probe times the net
        use_strided_avg_pools(model)
    if pool_first_pairs and device.type == "cuda":
        # In the background, while the set-up goes on: seconds on a machine's first run.
        prewarm_fused_kernels(
            model,
            shapes,
            config.batch_size // dist.world_size,
            autocast_dtype or torch.float32,
            device,
        )
    initialize_weights(model, config.init)
    model.to(device)
    # Set for every run, before any convolution: a process may hold an earlier run's setting.
    torch.backends.cudnn.benchmark = use_cudnn_benchmark(config, model)
    # The choice is written into the config (config.json, checkpoints), so a resumed run keeps
    # the layout and with it the exact arithmetic of the original.
    config = dataclasses.replace(
        config, channels_last=use_channels_last(config, model, data, device)
    )
    if config.channels_last:
        # Weights in channels_last make every conv produce channels_last activations, which
        # oneDNN and cuDNN run faster; 1-channel input batches are already in that layout.
        model.to(memory_format=torch.channels_last)
    num_params = sum(p.numel() for p in model.parameters())
    if dist.enabled:
        if not hasattr(data.train, "shard"):
            raise UsageError(
                f"data set {config.dataset!r} cannot be sharded for a data-parallel run; "
                "use a device-resident data set (fmnist, mnist, cifar10, synthetic)"
            )
        try:
            data.train.shard(dist.rank, dist.world_size)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    # Not written back into the config: a run captured on a GPU may be resumed on a CPU.
    cuda_graph, cuda_graph_note = use_cuda_graph(config, device, dist)
    optimizer = build_optimizer(config, model.parameters(), device, capturable=cuda_graph)
    schedule = build_schedule(config, optimizer, len(data.train))
    scaler = torch.amp.GradScaler(device.type) if autocast_dtype is torch.float16 else None
    stem_note = matmul_stem_note(
        config,
        model,
        device,
        (config.batch_size // dist.world_size, *data.input_shape),
        autocast_dtype,
    )

    setup = RunSetup(
        config=config,
        device=device,
        model=model,
        data=data,
        optimizer=optimizer,
        schedule=schedule,
        scaler=scaler,
        autocast_dtype=autocast_dtype,
        run_dir=None,
        shapes=shapes,
        num_params=num_params,
        eager_model=model,
        cuda_graph=cuda_graph,
        cuda_graph_note=cuda_graph_note,
        stem_note=stem_note,
        pool_first_pairs=pool_first_pairs,
        data_note=data.passed_over(config.data_dir, data_dir_name),
        dist=dist,
    )
    if resume_state is not None:
        restore(setup, resume_state)
        setup.run_dir = resume_dir
    elif write_run_dir and dist.is_main:
        if config.run_dir_path is not None:
            setup.run_dir = config.run_dir_path
            make_dir(setup.run_dir, "--run-dir")
        else:
            setup.run_dir = new_run_dir(config.runs_root_path, config.model, config.dataset)
    if not dist.is_main:
        setup.run_dir = None  # rank 0 alone writes the run directory and the checkpoints
    if dist.enabled:
        # After restore: DDP broadcasts rank 0's weights and averages gradients over ranks.
        setup.model = setup.eager_model = distributed.wrap_ddp(model, device)
        model = setup.model
    if config.compile:
        # Compilation happens in the first step; the loop falls back to eager if it fails there.
        setup.model = cast(nn.Module, torch.compile(model))  # an OptimizedModule
    return setup
