"""The device pane: GPU memory against the total as bars, utilisation, temperature, power; or
the process's RSS and CPU share on a CPU run."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from cnntui.engine.events import DeviceStats
from cnntui.tui import format as fmt
from cnntui.tui.layer_health import as_float
from cnntui.tui.state import RunState

LABEL_WIDTH = 10


def bar(fraction: float, width: int) -> Text:
    """A horizontal bar; turns yellow past 80 % and red past 95 %, where OOM is near."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    style = "red" if fraction > 0.95 else "yellow" if fraction > 0.8 else "green"
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled), style="dim")
    return text


class DevicePane(Static):
    """Redrawn from the last DeviceStats event."""

    DEFAULT_CSS = """
    DevicePane {
        height: auto;
        min-height: 4;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._stats: DeviceStats | None = None
        self._ended = False  # the run has ended: statistics that have not come never will
        self._line_count = 0

    def update_from(self, state: RunState) -> None:
        self._stats = state.device
        self._ended = state.ended
        # Relayout only when the pane changes height (a GPU's line appears, say); otherwise a
        # repaint of this pane is all the new numbers need.
        line_count = len(self._lines(self.size.width))
        self.refresh(layout=line_count != self._line_count)
        self._line_count = line_count

    def render(self) -> Text:
        return Text("\n").join(self._lines(self.size.width))

    def _lines(self, pane_width: int) -> list[Text]:
        stats = self._stats
        if stats is None:
            # The engine reads them after its first read window, which a short run, or one
            # stopped or failed early, never reaches: "yet" waited for what would not come.
            if self._ended:
                return [Text("the run ended before device statistics were read", style="dim")]
            return [Text("no device statistics yet", style="dim")]
        width = max(24, pane_width)
        lines = [Text(stats.device, style="bold")]
        total = as_float(stats.memory_total)
        if stats.device.startswith("cpu") or (total is None and stats.memory_allocated is None):
            lines += self._cpu_lines(stats)
        else:
            lines += self._gpu_lines(stats, total, width)
            lines.append(self._process_line(stats))
        own = _device_index(stats.device)
        for gpu in stats.gpus:  # the other local GPUs, one line each: is a neighbour busy?
            if gpu.get("index") != own:
                lines.append(self._other_gpu_line(gpu))
        return lines

    def _gpu_lines(self, stats: DeviceStats, total: float | None, width: int) -> list[Text]:
        lines = []
        memory = (
            ("allocated", stats.memory_allocated),
            ("reserved", stats.memory_reserved),
            ("peak", stats.memory_peak),
            ("device", stats.memory_used),
        )
        for label, value in memory:
            amount = as_float(value)
            if amount is None:
                continue
            line = Text(f"{label:<{LABEL_WIDTH}}")
            if total:
                numbers = f" {fmt.size_bytes(amount)} / {fmt.size_bytes(total)}"
                line.append_text(bar(amount / total, max(4, width - LABEL_WIDTH - len(numbers))))
                line.append(numbers)
            else:
                line.append(fmt.size_bytes(amount))
            lines.append(line)
        facts = []
        utilization = as_float(stats.utilization)
        if utilization is not None:
            facts.append(f"util {utilization:.0f}%")
        temperature = as_float(stats.temperature)
        if temperature is not None:
            facts.append(f"temp {temperature:.0f}°C")
        power = as_float(stats.power)
        if power is not None:
            facts.append(f"power {power:.0f} W")
        if facts:
            lines.append(Text("   ".join(facts)))
        return lines

    def _cpu_lines(self, stats: DeviceStats) -> list[Text]:
        lines = [Text(f"{'RSS':<{LABEL_WIDTH}}{fmt.size_bytes(as_float(stats.rss))}")]
        cpu = as_float(stats.cpu_percent)
        lines.append(Text(f"{'CPU':<{LABEL_WIDTH}}{'–' if cpu is None else f'{cpu:.0f}%'}"))
        return lines

    def _process_line(self, stats: DeviceStats) -> Text:
        cpu = as_float(stats.cpu_percent)
        cpu_text = "–" if cpu is None else f"{cpu:.0f}%"
        return Text(f"process RSS {fmt.size_bytes(as_float(stats.rss))} · CPU {cpu_text}", "dim")

    def _other_gpu_line(self, gpu: dict[str, Any]) -> Text:
        name = gpu.get("index", gpu.get("name", "gpu"))
        parts = [f"gpu{name}" if isinstance(name, int) else str(name)]
        utilization = as_float(gpu.get("utilization"))
        if utilization is not None:
            parts.append(f"util {utilization:.0f}%")
        used, total = as_float(gpu.get("memory_used")), as_float(gpu.get("memory_total"))
        if used is not None:
            parts.append(
                f"mem {fmt.size_bytes(used)}" + (f"/{fmt.size_bytes(total)}" if total else "")
            )
        return Text("  ".join(parts), style="dim")


def _device_index(device: str) -> int:
    """`cuda:1` → 1; plain `cuda` is device 0."""
    _, _, index = device.partition(":")
    return int(index) if index.isdigit() else 0
