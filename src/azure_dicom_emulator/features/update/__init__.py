"""Bulk update: the request's checks, and the update operation that rewrites the studies' instances."""

from .operation import run_batch as run_update_batch

__all__ = ["run_update_batch"]
