"""Authentication and roles: bearer tokens checked as Azure checks them, data actions, the built-in issuer."""

from .configuration import Auth, auth_from_settings
from .data_actions import DataAction
from .issuer import DEFAULT_LIFETIME_SECONDS, BuiltInIssuer

__all__ = [
    "DEFAULT_LIFETIME_SECONDS",
    "Auth",
    "BuiltInIssuer",
    "DataAction",
    "auth_from_settings",
]
