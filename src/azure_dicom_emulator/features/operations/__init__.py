"""Long-running operations: their records as clients see them, and the runner that any worker uses to run them.

A capability with an operation type registers the function that runs one batch of it (``register``).
"""

from .records import EXPORT, REINDEX, UPDATE, LostOwnership, operation_url
from .runner import OperationRunner, holding_lease, register

__all__ = [
    "EXPORT",
    "REINDEX",
    "UPDATE",
    "LostOwnership",
    "OperationRunner",
    "holding_lease",
    "operation_url",
    "register",
]
