"""Builds the ASGI application: routes, middleware, error handling and the start-up work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api.context import SUPPORTED_VERSIONS_HEADER
from .api.errors import InternalErrorMiddleware, QueryStringGuardMiddleware, not_found, service_error
from .api.routes import SegmentCountRouter, routes
from .api.tools_middleware import FaultInjectionMiddleware, RequestLogMiddleware
from .errors import DATA_STORE_FAILED, ServiceError, ServiceUnavailable
from .features.auth import auth_from_settings
from .features.emulator_tools import FaultBook, RequestLog, ResetWatcher
from .features.operations import OperationRunner
from .features.store.sweep import sweep_orphans
from .runtime.background import forever
from .runtime.deferred_import import preload
from .runtime.garbage_collector import settle_garbage_collector
from .runtime.pixel_library_exclusion import import_pydicom
from .settings import Settings
from .storage.blob_store import BlobStoreUnavailable
from .wiring import build_services, register_operations

log = logging.getLogger(__name__)
EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Content-Location",
    "Warning",
    "erroneous-dicom-attributes",
    "api-supported-versions",
    "WWW-Authenticate",
    "x-ms-request-id",
]


class ApiVersionHeaderMiddleware:
    """Adds ``api-supported-versions`` to every versioned route's response, as Azure does, unless the route
    wrote its own (a route introduced after ``v1.0-prerelease``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v"):
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            headers = message.get("headers", [])
            if message["type"] == "http.response.start" and not any(
                name.lower() == b"api-supported-versions" for name, _ in headers
            ):
                message["headers"] = [*headers, (b"api-supported-versions", SUPPORTED_VERSIONS_HEADER.encode())]
            await send(message)

        await self.app(scope, receive, send_with_header)


async def blob_store_failed(request, exc: Exception):
    """Azure's 503 for a failure of its internal store, logged with what the store said."""
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return await service_error(request, ServiceUnavailable(DATA_STORE_FAILED))


def create_app(settings: Settings | None = None) -> Starlette:
    """The emulator as an ASGI app; start-up applies migrations and sweeps orphan files, then the request
    handlers load in a thread (``runtime.deferred_import``) while the app serves."""
    settings = settings or Settings()
    register_operations()
    fault_book = FaultBook()
    request_log = RequestLog(settings.request_log_capacity)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = build_services(settings)
        await services.db.migrate()
        # With instances stored, what a viewer asks for first is ready before the server reports ready: the
        # pixel workers and the request handlers. An empty server has nothing to render or find yet: it loads
        # its handlers right after it reports ready, and starts its pixel workers with its first pixel job.
        loop = asyncio.get_running_loop()

        def load_handlers() -> Future:
            return preload(first=import_pydicom, then=lambda: loop.call_soon_threadsafe(settle_garbage_collector))

        stored = await services.holds_instances()
        if stored:  # both start now, and load while the rest of the start-up runs
            pixel_workers, handlers = asyncio.ensure_future(services.start_pixel_workers()), load_handlers()
        await services.blobs.prepare()
        await sweep_orphans(services)
        await services.events.start(services.db)
        if settings.faults:
            await fault_book.replace(services, settings.faults)
        reset_watcher = ResetWatcher(services)
        await reset_watcher.start_counting()
        watching = forever(reset_watcher.watch, "emulator: reset watcher")
        app.state.services = services
        runner = OperationRunner(services)
        runner.start()
        app.state.operation_runner = runner
        if stored:
            await pixel_workers
            await asyncio.wrap_future(handlers)
        else:
            load_handlers()
        try:
            yield
        finally:
            watching.cancel()
            await runner.stop()
            await services.close()

    app = Starlette(
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=EXPOSED_HEADERS,
                allow_credentials="*" not in settings.cors_origins,
            ),
            Middleware(RequestLogMiddleware, log=request_log),
            Middleware(InternalErrorMiddleware),
            Middleware(FaultInjectionMiddleware, book=fault_book),
            Middleware(QueryStringGuardMiddleware),
            Middleware(ApiVersionHeaderMiddleware),
        ],
        exception_handlers={
            ServiceError: service_error,
            HTTPException: not_found,
            BlobStoreUnavailable: blob_store_failed,
        },
    )
    app.state.fault_book = fault_book
    app.state.request_log = request_log
    app.router = SegmentCountRouter(routes(), lifespan=lifespan)
    app.state.auth = auth_from_settings(settings)
    return app
