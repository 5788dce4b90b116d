"""The data actions a request needs, and which of them each of Azure's built-in roles grants."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class DataAction(Enum):
    """What a route does to the service's data, as Azure's role checks name it."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    MANAGE_EXTENDED_QUERY_TAGS = "manageExtendedQueryTags"
    EXPORT = "export"


ALL_ACTIONS = frozenset(DataAction)
READ_ONLY = frozenset({DataAction.READ})

# The values of a token's ``roles`` claim that grant data actions: the role names, their Azure role
# definition GUIDs and the global roles of the open-source service's role file.
ROLE_ACTIONS: dict[str, frozenset[DataAction]] = {
    "DicomDataOwner": ALL_ACTIONS,
    "58a3b984-7adf-4c20-983a-32417c86fbc8": ALL_ACTIONS,
    "globalAdmin": ALL_ACTIONS,
    "DicomDataReader": READ_ONLY,
    "e89c7a3c-2f64-4fa1-a847-3e4c9ba4283a": READ_ONLY,
    "globalReader": READ_ONLY,
}


def granted_actions(roles: Iterable[object]) -> frozenset[DataAction]:
    """Every data action the given role claim values grant together; unknown values grant nothing."""
    granted: frozenset[DataAction] = frozenset()
    for role in roles:
        if isinstance(role, str):
            granted |= ROLE_ACTIONS.get(role, frozenset())
    return granted
