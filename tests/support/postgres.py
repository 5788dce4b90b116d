"""PostgreSQL for the tests: whether it is reachable, and a fresh database per test."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid

POSTGRES_URL = os.environ.get("DICOM_EMULATOR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _postgres_unavailable_reason() -> str | None:
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed"

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # any failure to connect means: skip, saying why
        return f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}"
    return None


POSTGRES_SKIP_REASON = _postgres_unavailable_reason()


def _run(coroutine_function, *args):
    """Runs a coroutine to completion on its own loop in a helper thread (safe inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine_function(*args)).result()


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_postgres_database() -> str:
    """A new empty PostgreSQL database for one test; returns its SQLAlchemy URL."""
    name = f"dicom_emulator_{uuid.uuid4().hex[:12]}"
    _run(_admin, f'CREATE DATABASE "{name}"')
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(url: str) -> None:
    """Drops a database made by create_postgres_database."""
    name = url.rsplit("/", 1)[1]
    _run(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
