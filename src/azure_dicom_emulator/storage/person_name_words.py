"""The ``person_name_word`` rows that make word-prefix (fuzzy) person-name matching an index lookup."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import person_name_word


async def replace_person_name_words(
    conn: AsyncConnection, tag: int, owner_keys: Sequence[int], words_columns: Sequence[str]
) -> None:
    """Makes the words of attribute ``tag`` of each owner those of its words column (see dicom.matching)."""
    await delete_person_name_words(conn, tag, owner_keys)
    rows = [
        {"tag": tag, "owner_key": owner_key, "word": word}
        for owner_key, words in zip(owner_keys, words_columns, strict=True)
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
