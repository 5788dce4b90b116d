"""The results table, the targets it is judged against, and bench/RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from servers import INSTANCE_ACCEPT
from viewer import Rate
from workloads import LargeStow, Latency, Throughput

MEGABYTE = 1_000_000
RSS_LIMIT_MB = 300.0


@dataclass
class Figures:
    """Everything measured for one server; a figure stays None when its step did not run."""

    version: str = "not run"
    stow_1: Throughput | None = None
    stow_4: Throughput | None = None
    retrieval: Latency | None = None
    metadata: Latency | None = None
    large: LargeStow | None = None
    frame: Latency | None = None
    scroll: Rate | None = None
    rendered: Latency | None = None
    rendered_httpx: Latency | None = None
    series_metadata: Latency | None = None
    series_instances: Latency | None = None
    errors: list[str] = field(default_factory=list)
    rounds: list[Figures] = field(default_factory=list)
    """The figures of each round these were chosen from (empty for a single round)."""


MEASURES = (
    "stow_1",
    "stow_4",
    "retrieval",
    "metadata",
    "frame",
    "scroll",
    "rendered",
    "rendered_httpx",
    "series_metadata",
    "series_instances",
)


def key_figure(value: Throughput | Rate | Latency) -> float:
    """What a measurement is judged by: instances or frames per second, or the p50 in milliseconds."""
    return value.p50_ms if isinstance(value, Latency) else value.per_second


def median_round(rounds: list[Figures]) -> Figures:
    """For every measurement, the round whose key figure is the median of the rounds that made it.

    With several rounds per server, taken in turns with the other server's, a phase of the machine
    that slows everything for a minute weighs on both servers alike instead of on whichever ran then.
    """
    combined = Figures(version=rounds[0].version, rounds=rounds if len(rounds) > 1 else [])
    for name in MEASURES:
        values = sorted((getattr(figures, name) for figures in rounds if getattr(figures, name)), key=key_figure)
        if values:
            setattr(combined, name, values[(len(values) - 1) // 2])
    combined.errors = [error for figures in rounds for error in figures.errors]
    return combined


@dataclass
class Row:
    """One line of the table: how to read the figure, and the target for the ratio ours / Orthanc."""

    label: str
    read: Callable[[Figures], float | None]
    target: str
    ratio_met: Callable[[float], bool] | None = None
    ours_met: Callable[[float], bool] | None = None


def attribute(*names: str) -> Callable[[Figures], float | None]:
    """A reader for a nested attribute of the figures, None if any step is missing."""

    def read(figures: Figures) -> float | None:
        value: object = figures
        for name in names:
            value = getattr(value, name, None)
            if value is None:
                return None
        return value

    return read


def peak_rss_mb(figures: Figures) -> float | None:
    """The peak resident memory of the large STOW request, in MB."""
    return figures.large.peak_rss_bytes / MEGABYTE if figures.large else None


ROWS = [
    Row("STOW-RS, 1 client (instances/s)", attribute("stow_1", "per_second"), ">= 2.5x", lambda r: r >= 2.5),
    Row("STOW-RS, 4 clients (instances/s)", attribute("stow_4", "per_second"), ">= 1.5x", lambda r: r >= 1.5),
    Row("Instance retrieval p50 (ms)", attribute("retrieval", "p50_ms"), "<= 1x", lambda r: r <= 1.0),
    Row("Instance retrieval p95 (ms)", attribute("retrieval", "p95_ms"), ""),
    Row("Study metadata p50 (ms)", attribute("metadata", "p50_ms"), "<= 1/6x", lambda r: r <= 1 / 6),
    Row("Study metadata p95 (ms)", attribute("metadata", "p95_ms"), ""),
    Row(
        "One frame of a 100-frame instance p50 (ms)",
        attribute("frame", "p50_ms"),
        "<= 3 ms",
        ours_met=lambda ms: ms <= 3,
    ),
    Row("One frame of a 100-frame instance p95 (ms)", attribute("frame", "p95_ms"), ""),
    Row("Scrolling a series (frames/s)", attribute("scroll", "per_second"), ">= 3x", lambda r: r >= 3),
    Row("Rendered 512x512 CT JPEG p50 (ms)", attribute("rendered", "p50_ms"), "<= 0.7x", lambda r: r <= 0.7),
    Row("Rendered 512x512 CT JPEG p95 (ms)", attribute("rendered", "p95_ms"), ""),
    Row(
        "Rendered 512x512 CT JPEG p50, plain httpx client (ms)",
        attribute("rendered_httpx", "p50_ms"),
        "<= 0.7x",
        lambda r: r <= 0.7,
    ),
    Row(
        "Metadata of a 1,000-instance series p50 (ms)",
        attribute("series_metadata", "p50_ms"),
        "<= 1/5x and <= 100 ms",
        lambda r: r <= 0.2,
        ours_met=lambda ms: ms <= 100,
    ),
    Row("Metadata of a 1,000-instance series p95 (ms)", attribute("series_metadata", "p95_ms"), ""),
    Row(
        "QIDO-RS instances of that series, 200 a page, p50 (ms)",
        attribute("series_instances", "p50_ms"),
        "<= 0.5x",
        lambda r: r <= 0.5,
    ),
    Row(
        "Peak RSS, 2,000-instance STOW (MB)",
        peak_rss_mb,
        f"< {RSS_LIMIT_MB:.0f} MB",
        ours_met=lambda mb: mb < RSS_LIMIT_MB,
    ),
]


def number(value: float | None) -> str:
    """A figure for the table."""
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def verdict(row: Row, ours: float | None, ratio: float | None) -> str:
    """Whether the row's target is met, or n/a when it has none or a figure is missing."""
    checks = []
    if row.ratio_met and ratio is not None:
        checks.append(row.ratio_met(ratio))
    if row.ours_met and ours is not None:
        checks.append(row.ours_met(ours))
    if checks:
        return "met" if all(checks) else "NOT met"
    return "n/a" if row.target else ""


def table(results: dict[str, Figures]) -> str:
    """The Markdown table of every figure for both servers, their ratio and the targets."""
    lines = [
        "| Measure | Ours | Orthanc | Ours / Orthanc | Target | Status |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in ROWS:
        ours = row.read(results.get("ours", Figures()))
        orthanc = row.read(results.get("orthanc", Figures()))
        ratio = ours / orthanc if ours is not None and orthanc else None
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        lines.append(
            f"| {row.label} | {number(ours)} | {number(orthanc)} | {ratio_text} | {row.target} "
            f"| {verdict(row, ours, ratio)} |"
        )
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU model named by /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    """Total memory in GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def details(name: str, figures: Figures) -> list[str]:
    """Supporting figures for one server: durations, sample sizes, checks, and the figure of each round."""
    lines = [f"- **{name}** ({figures.version})"]
    if figures.rounds:
        lines.append(f"  - each figure is the median of {len(figures.rounds)} rounds; by round:")
        for label, measure in zip(
            (
                "STOW-RS 1 client",
                "STOW-RS 4 clients",
                "retrieval p50",
                "metadata p50",
                "frame p50",
                "scrolling",
                "rendered p50",
                "rendered p50 (httpx)",
                "series metadata p50",
                "series instances p50",
            ),
            MEASURES,
            strict=True,
        ):
            values = [key_figure(value) for figures in figures.rounds if (value := getattr(figures, measure))]
            if values:
                lines.append(f"    - {label}: {', '.join(number(value) for value in values)}")
    for label, run in (("1 client", figures.stow_1), ("4 clients", figures.stow_4)):
        if run:
            lines.append(f"  - STOW-RS, {label}: {run.instances} instances in {run.seconds:.1f} s")
    checks = (
        ("instance retrieval", figures.retrieval, "equal to the sent file after the 128-byte preamble"),
        ("study metadata", figures.metadata, "listing every instance of the study"),
        ("single frames", figures.frame, "equal to the stored frame"),
        ("rendered JPEGs", figures.rendered, "decoding to 512x512"),
        ("rendered JPEGs through httpx", figures.rendered_httpx, "decoding to 512x512"),
        ("metadata of the 1,000-instance series", figures.series_metadata, "listing every instance"),
        ("QIDO-RS of the series' instances", figures.series_instances, "listing a page of 200"),
    )
    for label, latency, check in checks:
        if latency:
            lines.append(f"  - {label}: {latency.requests} sequential requests, {latency.verified} checked {check}")
    if figures.scroll:
        scroll = figures.scroll
        lines.append(
            f"  - scrolling: {scroll.frames} frames in {scroll.seconds:.2f} s over {scroll.clients} connections"
        )
    if figures.large:
        lines.append(large_details(figures.large))
    lines.extend(f"  - error: {error}" for error in figures.errors)
    return lines


def large_details(large: LargeStow) -> str:
    """The line describing the large streamed STOW-RS request."""
    rate = large.instances / large.seconds
    return (
        f"  - large STOW-RS: {large.instances} instances, {large.body_bytes / MEGABYTE:.0f} MB streamed in "
        f"{large.seconds:.1f} s ({rate:.0f} instances/s); peak RSS {large.peak_rss_bytes / MEGABYTE:.0f} MB "
        f"summed over {large.processes} processes, the server and its children "
        f"({large.server_peak_rss_bytes / MEGABYTE:.0f} MB for the server process alone); "
        f"{large.baseline_rss_bytes / MEGABYTE:.0f} MB before the request"
    )


def render(results: dict[str, Figures], settings: dict[str, str], load_at_start: float) -> str:
    """The whole of RESULTS.md; ``load_at_start`` is the 1-minute load average when the run began."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    names = {"ours": "Ours", "orthanc": "Orthanc"}
    parts = [
        "# Benchmark results: the emulator and Orthanc",
        "",
        f"Written by `bench/run.py` on {now}. See `bench/README.md` for how to run it.",
        "",
        "## Machine",
        "",
        f"- {len(os.sched_getaffinity(0))} CPUs ({cpu_model()}), {memory_gib():.1f} GiB memory",
        f"- Linux {platform.release()}, Python {platform.python_version()}",
        "- Servers and client share the machine, one server at a time, in a loopback-only network namespace",
        f"- Rounds: {settings_rounds(results)} per server, taking turns (each round starts the server afresh)",
        f"- 1-minute load average: {load_at_start:.2f} when the run began, {os.getloadavg()[0]:.2f} at its "
        "end (other work on the machine skews the figures)",
        "",
        "## Versions",
        "",
        *(f"- {names[name]}: {figures.version}" for name, figures in results.items()),
        "",
        "## Workload",
        "",
        *(f"- {key}: {value}" for key, value in settings.items()),
        f"- Instance retrieval asks Orthanc for `{INSTANCE_ACCEPT['orthanc']}` (its DICOMweb plugin answers "
        f"400 to `application/dicom`) and the emulator for `{INSTANCE_ACCEPT['ours']}`",
        "",
        "## Figures",
        "",
        "Ratios are ours divided by Orthanc's: for instances/s higher is better, for milliseconds lower.",
        "",
        table(results),
        "",
        "## Details",
        "",
        *(line for name, figures in results.items() for line in details(names[name], figures)),
        "",
    ]
    return "\n".join(parts)


KEPT_SECTION = re.compile(r"\n*<!-- (?P<name>[a-z]+)-results -->.*?<!-- /(?P=name)-results -->\n?", re.S)


def settings_rounds(results: dict[str, Figures]) -> int:
    """How many rounds the figures were chosen from."""
    return max((len(figures.rounds) for figures in results.values()), default=0) or 1


def kept_sections(path: Path) -> str:
    """The sections other scripts wrote into ``path`` (``<!-- name-results -->`` ... ``<!-- /name-results -->``,
    e.g. bench/search.py's), to carry over into a rewritten file."""
    found = KEPT_SECTION.finditer(path.read_text()) if path.exists() else []
    return "".join("\n" + match.group(0).lstrip("\n") for match in found)


def write_section(path: Path, name: str, lines: list[str]) -> None:
    """Puts ``lines`` into ``path`` as its ``<!-- name-results -->`` section, replacing the one there or adding it
    at the end; the rest of the file stays as it is."""
    section = "\n".join([f"<!-- {name}-results -->", *lines, f"<!-- /{name}-results -->"])
    pattern = re.compile(rf"<!-- {name}-results -->.*?<!-- /{name}-results -->", re.S)
    text = path.read_text() if path.exists() else ""
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
