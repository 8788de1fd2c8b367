"""How much of a core the dashboard's UI thread uses while a run trains.

    python -m bench.ui_share --preset lenet --epochs 3 [--device cuda]

Runs `cnntui run PRESET --exit-on-finish` in a 160x48 pseudo-terminal and reads the CPU time of
each of its threads from /proc/PID/task/TID/stat twice a second. The UI thread is the main
thread (TID == PID: Textual's event loop runs there, training in a worker thread). Its share
of a core is taken between the first and the last training-step event in events.jsonl, from
the samples nearest those times, so start-up (imports, the first frames) and the end of the run
are left out. Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.dashboard import dashboard

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int, tid: int) -> float | None:
    """User + system CPU time of one thread, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # utime, stime


class MainThreadSampler:
    """Samples (wall time, CPU seconds) of a process's main thread until stopped."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self._thread.start()

    def _run(self, pid: int) -> None:
        while not self._stop.is_set():
            cpu = thread_cpu_seconds(pid, pid)
            if cpu is None:
                return
            self.samples.append((time.time(), cpu))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def share_between(self, start: float, end: float) -> float:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            raise SystemExit("too few samples inside the training window: train longer")
        (t0, cpu0), (t1, cpu1) = inside[0], inside[-1]
        return (cpu1 - cpu0) / (t1 - t0)


def training_window(events_file: Path) -> tuple[float, float]:
    times = [
        event["time"]
        for event in map(json.loads, events_file.read_text().splitlines())
        if event.get("event") == "step"
    ]
    return times[0], times[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="cnntui-bench-ui-")) / "run"
    sampler = MainThreadSampler()
    try:
        dashboard(args.preset, args.epochs, run_dir, args.device, on_start=sampler.start)
    finally:
        sampler.stop()
    start, end = training_window(run_dir / "events.jsonl")
    share = sampler.share_between(start, end)
    print(f"{args.preset}, {args.epochs} epochs: the UI thread used {share:.1%} of a core "
          f"over {end - start:.0f} s of training")  # fmt: skip


if __name__ == "__main__":
    main()
