"""The emulator's own tools (not Azure's): reset of the data, fault injection, the request log."""

from .faults import TOOLS_PREFIX, FaultBook, delay, parse_rules
from .request_log import RequestLog
from .reset import ResetWatcher, reset_data

__all__ = ["TOOLS_PREFIX", "FaultBook", "RequestLog", "ResetWatcher", "delay", "parse_rules", "reset_data"]
