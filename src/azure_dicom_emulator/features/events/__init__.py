"""Events (spec §12, DESIGN §6): written to an outbox with their change-feed rows, delivered to sinks."""
