"""The upload command's run: files found and sent in batches as the walk goes, a progress bar, the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..runtime import allocator
from .discovery import dicom_files
from .stow import Found, Summary, authorization, batches, send_all, studies_url


def upload(
    paths: Sequence[Path],
    service_url: str,
    partition: str | None = None,
    batch_size: int = 50,
    concurrency: int = 4,
    token: str | None = None,
    console: Console | None = None,
    show_progress: bool = True,
) -> Summary:
    """Stores every DICOM file under ``paths`` at ``service_url`` (with its version) and prints the summary."""
    allocator.keep_freed_memory()  # each batch's body reuses the memory of the one before, without page faults
    console = console or Console(stderr=True)
    found = Found()
    groups = batches(dicom_files(paths), max(1, batch_size), found)
    url = studies_url(service_url, partition)
    headers = authorization(service_url, token)
    progress = Progress(
        TextColumn("[bold]Uploading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TextColumn("{task.fields[megabytes]:.1f} MB"),
        TextColumn("{task.fields[rate]:.0f} instances/s"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("upload", total=None, megabytes=0.0, rate=0.0)  # known once the walk ends

        def advance(count: int, sent: int) -> None:
            state = progress.tasks[0]
            elapsed = state.elapsed or 0.0
            done = state.completed + count
            megabytes = state.fields["megabytes"] + sent / 1024**2
            total = found.files if found.complete else None
            rate = done / elapsed if elapsed else 0.0
            progress.update(task, total=total, advance=count, megabytes=megabytes, rate=rate)

        summary = send_all(url, groups, headers, concurrency, advance)
    console.print(describe(summary, found.files, found.bytes))
    return summary


def describe(summary: Summary, files: int, total_bytes: int) -> str:
    """The summary as the command prints it."""
    rate = files / summary.seconds if summary.seconds else 0.0
    lines = [
        f"{files} DICOM file(s), {total_bytes / 1024**2:.1f} MB: {summary.stored} stored, "
        f"{summary.already_present} already present (45070), {summary.failed_count} failed",
        f"  sent in {summary.seconds:.2f} s ({rate:.0f} instances/s)",
    ]
    lines += [f"  failed: {count} with reason {reason}" for reason, count in sorted(summary.failed.items())]
    return "\n".join(lines)
