"""`cnntui run`: resolve the config, set the run up, then train headless or under the dashboard."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from cnntui.config import RunConfig, load_config
from cnntui.errors import CnntuiError


def run_command(
    target: str | None,
    preset: str | None,
    overrides: dict[str, Any],
    resume: Path | None,
    headless: bool,
    json_output: bool,
    exit_on_finish: bool,
    nproc: int | None = None,
) -> int:
    if nproc is not None:
        from cnntui.launch import launch_command

        return launch_command(nproc, target, preset, overrides, resume, headless, json_output)

    from cnntui.engine.distributed import context_from_env
    from cnntui.engine.trainer import Trainer

    if resume is not None:
        if target or preset:
            raise CnntuiError("--resume continues a run with its own config; drop the preset", 2)
        config = RunConfig()  # replaced by the checkpoint's config in setup()
    else:
        if not target and not preset:
            raise CnntuiError("name a preset or model to run, e.g. `cnntui run lenet`", 2)
        config = load_config(target or "", preset, overrides)

    dist = context_from_env()
    if dist.enabled:
        # A rank of a data-parallel run: never a dashboard (the launcher shows one), and only
        # rank 0 reports; the others print nothing but their own errors.
        headless, json_output = True, json_output and dist.is_main
    use_dashboard = not (headless or json_output) and sys.stdout.isatty() and sys.stdin.isatty()
    trainer = Trainer(config, resume_from=resume, resume_overrides=overrides)
    if json_output:
        from cnntui.headless import JsonReporter

        trainer.subscribe(JsonReporter())
    trainer.setup()  # bad data paths, unknown options: one clean error before anything opens

    if use_dashboard:
        from cnntui.tui.app import run_dashboard

        return run_dashboard(trainer, exit_on_finish=exit_on_finish)

    if not json_output and dist.is_main:
        from cnntui.headless import make_reporter

        trainer.subscribe(make_reporter(json_output=False))
    with stop_on_signals(trainer):
        return trainer.run()


class stop_on_signals:
    """SIGINT, SIGTERM and SIGHUP finish the batch, save last.pt and exit 130."""

    SIGNALS = tuple(
        getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
    )

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> stop_on_signals:
        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.trainer.controls.stop_requested.is_set():
            # A second signal: the user means it. Restore the default and re-deliver.
            signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        print(f"\n{name}: finishing the batch, saving last.pt ...", file=sys.stderr, flush=True)
        self.trainer.request_stop(reason=name)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
