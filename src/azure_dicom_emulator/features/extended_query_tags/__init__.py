"""Extended query tags: adding, listing, updating and deleting them, indexing their values and reindexing."""

from .indexing import IndexedInstance, index_instances, spec_of
from .reindex import run_batch as run_reindex_batch

__all__ = ["IndexedInstance", "index_instances", "run_reindex_batch", "spec_of"]
