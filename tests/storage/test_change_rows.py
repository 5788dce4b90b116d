"""The store and delete transactions write change-feed rows (their API comes later)."""

from __future__ import annotations

from sqlalchemy import select

from azure_dicom_emulator.storage.index import ChangeAction
from azure_dicom_emulator.storage.schema import change_feed
from harness.factories import make_dataset, multipart, to_bytes

from ..support.app import running_app

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}


async def rows(client) -> list:
    async with client.app.state.services.db.read() as conn:
        return list(await conn.execute(select(change_feed).order_by(change_feed.c.sequence)))


async def test_store_put_and_delete_append_change_rows(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        first, second = make_dataset(), make_dataset()
        assert (
            await client.post("/v2/studies", content=multipart([to_bytes(first), to_bytes(second)]), headers=STOW)
        ).status_code == 200
        assert (await client.put("/v2/studies", content=multipart([to_bytes(first)]), headers=STOW)).status_code == 200
        path = f"/v2/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/instances/{first.SOPInstanceUID}"
        assert (await client.delete(path)).status_code == 204
        feed = await rows(client)
    assert [(row.sop_uid, ChangeAction(row.action)) for row in feed] == [
        (first.SOPInstanceUID, ChangeAction.CREATE),
        (second.SOPInstanceUID, ChangeAction.CREATE),
        (first.SOPInstanceUID, ChangeAction.CREATE),
        (first.SOPInstanceUID, ChangeAction.DELETE),
    ]
    sequences = [row.sequence for row in feed]
    assert sequences == sorted(set(sequences))
    assert feed[0].version < feed[2].version == feed[3].version  # the PUT made a new version; delete names it
