"""CPU work in worker processes, handed out and collected by the event loop itself.

Each worker is a process started from a forkserver and joined to this process by a socket pair.
A job is a pickled function and its arguments, written to a worker's socket; its result is read
back on the event loop, so a job costs one write and one read, with no feeder or manager thread
in between (the standard library's process pool spends several thread switches per job). Each
worker has the next job waiting in its socket while it runs one, so it never idles while the
event loop is busy. A worker that dies fails the job it was running with :class:`WorkerDied` and
is replaced; the jobs it had not started go to its replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import pickle
import signal
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

_LENGTH = struct.Struct("!Q")
_READY = _LENGTH.pack(0)
"""What a worker sends once its initializer has run, before it takes its first job."""
_JOBS_PER_WORKER = 2
"""Jobs sent to a worker at once: the one it runs and the next."""
_RESTART_DELAY_S = 0.1
_MAX_RESTART_DELAY_S = 10.0


class WorkerDied(RuntimeError):
    """The worker process running a job ended before it answered."""


def _receive(sock: socket.socket) -> bytes | None:
    """One framed message, or None when the other end closed the socket."""
    header = _receive_exactly(sock, _LENGTH.size)
    return None if header is None else _receive_exactly(sock, _LENGTH.unpack(header)[0])


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if count == 0:
            return None
        received += count
    return bytes(buffer)


def _answer(call: bytes) -> bytes:
    """The pickled ``(succeeded, result or exception)`` of running the pickled call ``call``."""
    try:
        function, arguments = pickle.loads(call)
        reply: tuple[bool, Any] = (True, function(*arguments))
    except BaseException as exc:  # every failure goes back to the caller
        reply = (False, exc)
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a result or exception that cannot be pickled
        return pickle.dumps((False, RuntimeError(f"The worker's answer cannot be sent: {exc!r}")))


def _serve(sock: socket.socket, initializer: Callable[[], None] | None) -> None:
    """A worker's life: answer one call after another until the pool closes the socket.

    Ctrl-C in a terminal reaches the whole process group; the server decides when workers stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer()
    sock.sendall(_READY)
    with sock:
        while (call := _receive(sock)) is not None:
            answer = _answer(call)
            sock.sendall(_LENGTH.pack(len(answer)))
            sock.sendall(answer)


class _Job:
    __slots__ = ("future", "call")

    def __init__(self, future: Future, call: bytes) -> None:
        self.future = future
        self.call = call

    def frame(self) -> bytes:
        return _LENGTH.pack(len(self.call)) + self.call


class _Worker:
    """One worker process, its connection, and the jobs sent to it, oldest first."""

    def __init__(self) -> None:
        self.process: multiprocessing.process.BaseProcess | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.sent: deque[_Job] = deque()
        self.room = asyncio.Semaphore(_JOBS_PER_WORKER)
        self.connected = asyncio.Event()
        self.quick_deaths = 0
        """Workers in a row that died before answering a job: each waits longer before the next starts."""

    def finish(self, job: _Job) -> None:
        self.sent.remove(job)
        self.room.release()


class ProcessPool(Executor):
    """An executor of ``size`` worker processes for ``loop.run_in_executor`` on the loop that started it.

    The workers start with :meth:`start` or else with the first job; jobs must then be submitted on
    that loop's thread. Results and exceptions come back as the worker's function returned or
    raised them. ``initializer`` runs once in each new worker, before its first job. Jobs submitted
    before every worker is ready go to ``stand_in`` when one is given (threads of this process, for
    jobs it can run itself), so the first ones do not wait for the workers to start.
    """

    def __init__(
        self, size: int, initializer: Callable[[], None] | None = None, stand_in: Executor | None = None
    ) -> None:
        if size < 1:
            raise ValueError("A process pool needs at least one worker.")
        self.size = size
        self.initializer = initializer
        self.stand_in = stand_in
        self._ready = False
        self._context = multiprocessing.get_context("forkserver")
        self._jobs: asyncio.Queue[_Job] | None = None
        self._workers: list[_Worker] = []
        self._tasks: list[asyncio.Task] = []
        self._loop_thread: int | None = None
        self._starting: asyncio.Future | None = None
        self._closed = False

    async def start(self) -> None:
        """Starts every worker and waits until each has run its initializer, so that the first jobs do not
        wait for them."""
        if self._loop_thread is None:
            self._begin()
        await self._starting

    def _begin(self) -> None:
        """Binds the pool to the running loop and starts its workers in the background."""
        asyncio.get_running_loop()  # raises outside a loop
        self._loop_thread = threading.get_ident()
        self._jobs = asyncio.Queue()
        self._workers = [_Worker() for _ in range(self.size)]
        self._starting = asyncio.ensure_future(self._start_workers())

    async def _start_workers(self) -> None:
        await asyncio.gather(*(self._connect(worker) for worker in self._workers))
        for worker in self._workers:
            self._tasks.append(asyncio.ensure_future(self._feed(worker)))
            self._tasks.append(asyncio.ensure_future(self._collect(worker)))
        self._ready = True

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        """Queues ``fn(*args)`` for the next free worker; the future holds its result."""
        if kwargs:
            raise TypeError("Keyword arguments cannot be sent to a worker process.")
        if self._closed:
            raise RuntimeError("The process pool is closed.")
        if self._loop_thread is None:
            self._begin()
        elif threading.get_ident() != self._loop_thread:
            raise RuntimeError("Jobs are submitted on the event loop that started the pool.")
        if not self._ready and self.stand_in is not None:
            return self.stand_in.submit(fn, *args)
        future: Future = Future()
        self._jobs.put_nowait(_Job(future, pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stops the workers once their current jobs end; queued jobs are cancelled when ``cancel_futures``.

        Jobs already sent to a worker fail with WorkerDied.
        """
        self._closed = True
        if self.stand_in is not None:
            self.stand_in.shutdown(wait=False, cancel_futures=cancel_futures)
        if self._starting is not None:
            self._starting.cancel()
        for task in self._tasks:
            task.cancel()
        for worker in self._workers:
            for job in worker.sent:
                job.future.set_exception(WorkerDied("The process pool closed before the job ended."))
            worker.sent.clear()
            if worker.writer is not None:
                worker.writer.close()
        if self._jobs is not None and cancel_futures:
            while not self._jobs.empty():
                self._jobs.get_nowait().future.cancel()

    async def _connect(self, worker: _Worker) -> None:
        """Starts a new process for ``worker`` and sends it the jobs that are waiting for it."""
        ours, theirs = socket.socketpair()
        process = self._context.Process(target=_serve, args=(theirs, self.initializer), daemon=True)
        try:
            await asyncio.to_thread(process.start)
        finally:
            theirs.close()
        worker.process = process
        worker.reader, worker.writer = await asyncio.open_connection(sock=ours)
        # A worker that dies while it starts closes the socket: the collector sees that and replaces it.
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await worker.reader.readexactly(len(_READY))
        for job in worker.sent:
            worker.writer.write(job.frame())
        worker.connected.set()

    async def _feed(self, worker: _Worker) -> None:
        """Hands ``worker`` the next queued job whenever it has room for one."""
        while True:
            await worker.room.acquire()
            job = await self._jobs.get()
            if not job.future.set_running_or_notify_cancel():
                worker.room.release()
                continue
            await worker.connected.wait()
            worker.sent.append(job)
            worker.writer.write(job.frame())

    async def _collect(self, worker: _Worker) -> None:
        """Settles each job of ``worker`` as its answer arrives, and replaces the worker when it dies."""
        while True:
            try:
                (length,) = _LENGTH.unpack(await worker.reader.readexactly(_LENGTH.size))
                answer = await worker.reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self._replace(worker)
                continue
            job = worker.sent[0]
            worker.finish(job)
            worker.quick_deaths = 0
            succeeded, value = pickle.loads(answer)
            if succeeded:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    async def _replace(self, worker: _Worker) -> None:
        worker.connected.clear()
        worker.writer.close()
        if worker.sent:  # the job it was running; the others it never started
            job = worker.sent[0]
            worker.finish(job)
            job.future.set_exception(WorkerDied("A worker process ended while it ran a job."))
        # A worker that cannot even start (say, it fails to import) must not be restarted in a tight loop.
        await asyncio.sleep(min(_RESTART_DELAY_S * (2**worker.quick_deaths - 1), _MAX_RESTART_DELAY_S))
        worker.quick_deaths += 1
        await self._connect(worker)
