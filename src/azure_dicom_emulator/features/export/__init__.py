"""Export to Azure Blob Storage: the request's checks, the destination container and the export operation."""

from .operation import run_batch as run_export_batch

__all__ = ["run_export_batch"]
