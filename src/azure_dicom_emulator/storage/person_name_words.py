"""The ``person_name_word`` rows that make word-prefix (fuzzy) person-name matching an index lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, tuple_

from .schema import person_name_word

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


async def replace_person_name_words(conn: AsyncConnection, names: Sequence[tuple[int, int, str]]) -> None:
    """Makes the words of each person name, given as (attribute tag, owner key, words column), those of its
    words column (see dicom.matching): one statement removes the old words of them all, one adds the new."""
    for start in range(0, len(names), 500):
        pairs = [(tag, owner_key) for tag, owner_key, _ in names[start : start + 500]]
        await conn.execute(
            delete(person_name_word).where(tuple_(person_name_word.c.tag, person_name_word.c.owner_key).in_(pairs))
        )
    rows = [
        {"tag": tag, "owner_key": owner_key, "word": word}
        for tag, owner_key, words in names
        for word in set(words.split())
    ]
    if rows:
        await conn.execute(person_name_word.insert(), rows)


async def delete_person_name_words(conn: AsyncConnection, tag: int, owner_keys: Sequence[int]) -> None:
    """Removes the words of attribute ``tag`` of these owners."""
    for start in range(0, len(owner_keys), 500):
        chunk = owner_keys[start : start + 500]
        await conn.execute(
            delete(person_name_word).where(person_name_word.c.tag == tag, person_name_word.c.owner_key.in_(chunk))
        )
