"""PostgreSQL's deadlock error is told apart from other failures (a reset that meets one is tried again)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from azure_dicom_emulator.storage.database import Database, is_deadlock, retrying_deadlocks

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database


@pytest.fixture
async def postgres():
    if POSTGRES_SKIP_REASON:
        pytest.skip(POSTGRES_SKIP_REASON)
    url = create_postgres_database()
    db = Database(url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()
        drop_postgres_database(url)


async def test_two_transactions_locking_in_opposite_orders_end_in_a_deadlock_error_and_only_that_counts(postgres):
    locked = [asyncio.Event(), asyncio.Event()]
    lock = "SELECT * FROM counter WHERE name = :name FOR UPDATE"

    async def lock_both(first: str, second: str, mine: asyncio.Event, theirs: asyncio.Event) -> None:
        async with postgres.write() as conn:
            await conn.execute(text(lock), {"name": first})
            mine.set()
            await theirs.wait()
            await conn.execute(text(lock), {"name": second})

    outcomes = await asyncio.gather(
        lock_both("version", "data_resets", locked[0], locked[1]),
        lock_both("data_resets", "version", locked[1], locked[0]),
        return_exceptions=True,
    )

    failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(failures) == 1
    assert is_deadlock(failures[0])
    assert not is_deadlock(ValueError("not a database error"))


class _Aborted:
    sqlstate = "40P01"


def _deadlock() -> DBAPIError:
    return DBAPIError("UPDATE ...", {}, _Aborted())


async def test_a_transaction_aborted_by_a_deadlock_is_run_again_and_its_result_returned():
    attempts = []

    async def run():
        attempts.append(1)
        if len(attempts) < 3:
            raise _deadlock()
        return "done"

    assert await retrying_deadlocks(run) == "done"
    assert len(attempts) == 3


async def test_other_failures_and_a_deadlock_on_the_last_attempt_are_raised():
    async def other():
        raise ValueError("not a deadlock")

    with pytest.raises(ValueError):
        await retrying_deadlocks(other)

    async def always():
        raise _deadlock()

    with pytest.raises(DBAPIError):
        await retrying_deadlocks(always, attempts=2)
