"""Alembic environment: runs migrations on the connection the emulator hands over."""

from alembic import context

from azure_dicom_emulator.storage.schema import metadata

connection = context.config.attributes["connection"]
# Every migration in one transaction, SQLite's too: the lock a starting worker holds (``Database.migrate``)
# then lasts until the schema is whole, and a worker starting beside it never sees a half-migrated one.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
