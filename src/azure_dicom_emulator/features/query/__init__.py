"""QIDO-RS search (spec §5): parameters, matching, and the returned attributes."""
