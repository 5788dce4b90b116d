"""PostgreSQL for the tests: whether it is reachable, and a fresh database per test."""

from __future__ import annotations

import asyncio
import os

from harness.postgres import create_database, drop_database

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


def create_postgres_database() -> str:
    """A new empty PostgreSQL database for one test; returns its SQLAlchemy URL."""
    return create_database(POSTGRES_URL, "dicom_emulator")


def drop_postgres_database(url: str) -> None:
    """Drops a database made by create_postgres_database."""
    drop_database(POSTGRES_URL, url)
