"""Workitems (UPS-RS, spec §13): create, retrieve, update, change state, request cancellation, search."""
