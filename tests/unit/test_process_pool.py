"""The CPU worker pool: results and errors come back, a dying worker fails only its job and is replaced."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from azure_dicom_emulator.runtime.process_pool import ProcessPool, WorkerDied

_PREPARED = []


def prepare() -> None:
    _PREPARED.append(os.getpid())


def prepared_pid() -> int:
    return _PREPARED[0]


def add(left: int, right: int) -> int:
    return left + right


def echo(data: bytes) -> bytes:
    return data


def fail(text: str) -> None:
    raise ValueError(text)


def die() -> None:
    os._exit(3)


def own_pid() -> int:
    return os.getpid()


async def _run(pool: ProcessPool, fn: Callable[..., object], *args: object):
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


@pytest.fixture
async def pool():
    started = ProcessPool(1, initializer=prepare)
    await started.start()
    yield started
    started.shutdown(wait=False, cancel_futures=True)


async def test_results_and_errors_come_back_as_the_function_gave_them(pool: ProcessPool) -> None:
    assert await asyncio.gather(*(_run(pool, add, n, n) for n in range(20))) == [2 * n for n in range(20)]
    large = os.urandom(3 * 1024 * 1024)
    assert await _run(pool, echo, large) == large
    with pytest.raises(ValueError, match="refused"):
        await _run(pool, fail, "refused")


async def test_each_worker_runs_the_initializer_before_its_first_job(pool: ProcessPool) -> None:
    assert await _run(pool, prepared_pid) == await _run(pool, own_pid)


async def test_a_dying_worker_fails_its_job_and_the_jobs_behind_it_still_run(pool: ProcessPool) -> None:
    first = await _run(pool, own_pid)
    dying = asyncio.ensure_future(_run(pool, die))
    behind = [asyncio.ensure_future(_run(pool, add, n, 1)) for n in range(5)]
    with pytest.raises(WorkerDied):
        await dying
    assert await asyncio.gather(*behind) == [1, 2, 3, 4, 5]
    replacement = await _run(pool, own_pid)
    assert replacement != first
    assert await _run(pool, prepared_pid) == replacement


async def test_shutdown_cancels_queued_jobs_and_refuses_new_ones() -> None:
    pool = ProcessPool(1)
    await pool.start()
    queued = [pool.submit(add, n, n) for n in range(10)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert any(future.cancelled() for future in queued)
    assert all(future.done() for future in queued)
    with pytest.raises(RuntimeError):
        pool.submit(add, 1, 1)


async def test_jobs_are_submitted_on_the_loop_that_started_the_pool(pool: ProcessPool) -> None:
    errors = []
    thread = threading.Thread(target=lambda: errors.append(_submit_or_error(pool)))
    thread.start()
    thread.join()
    assert isinstance(errors[0], RuntimeError)


def _submit_or_error(pool: ProcessPool) -> BaseException | None:
    try:
        pool.submit(add, 1, 1)
    except RuntimeError as exc:
        return exc
    return None


def broken_start() -> None:
    raise ImportError("a worker that cannot start")


async def test_workers_that_cannot_start_fail_each_job_and_are_restarted_ever_more_slowly() -> None:
    pool = ProcessPool(1, initializer=broken_start)
    await pool.start()
    loop = asyncio.get_running_loop()
    failed_at: list[float] = []

    async def job(n: int) -> None:
        with pytest.raises(WorkerDied):
            await _run(pool, add, n, n)
        failed_at.append(loop.time())

    try:
        await asyncio.wait_for(asyncio.gather(*(job(n) for n in range(5))), timeout=30)
        # The fifth worker starts 0.7 s after the fourth died; restarts in a tight loop take far less.
        assert failed_at[4] - failed_at[3] >= 0.7
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def test_a_pool_starts_its_workers_with_its_first_job() -> None:
    pool = ProcessPool(2)
    try:
        assert await asyncio.gather(*(_run(pool, add, n, 1) for n in range(4))) == [1, 2, 3, 4]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def test_jobs_before_the_workers_are_ready_run_in_the_stand_in_and_later_ones_in_a_worker() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool = ProcessPool(1, stand_in=ThreadPoolExecutor(max_workers=1))
    try:
        assert await _run(pool, own_pid) == os.getpid()  # the workers were still starting
        await pool.start()
        assert await _run(pool, own_pid) != os.getpid()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
