"""Throw-away PostgreSQL databases on a server, for the tests and the benchmarks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid


def create_database(admin_url: str, prefix: str, template_url: str | None = None) -> str:
    """A new database named ``prefix`` and a random suffix, beside the one of ``admin_url`` (a SQLAlchemy URL):
    empty, or a copy of the database of ``template_url`` (which nobody may be connected to); returns its
    SQLAlchemy URL. Safe to call inside a running event loop."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{template_url.rsplit("/", 1)[1]}"' if template_url else ""
    _run(_admin, admin_url, f'CREATE DATABASE "{name}"{template}')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, url: str) -> None:
    """Drops the database of ``url`` (made by create_database), closing its connections."""
    name = url.rsplit("/", 1)[1]
    _run(_admin, admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(coroutine_function, *args):
    """Runs a coroutine to completion on its own loop in a worker thread (safe inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine_function(*args)).result()


async def _admin(admin_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("+asyncpg", ""))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
