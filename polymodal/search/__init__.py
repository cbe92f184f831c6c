"""The search room: photo collections in LanceDB, searched by words or by example.

:class:`Collection` is the door: ``add`` (index folders, re-indexing only what changed),
``search`` (text or image, filters, honest "nothing matches"), ``remove``, ``stats`` and
``optimize``. Built on the vision room's CLIP embeddings.
"""

from polymodal.search.collection import Collection, default_db, list_collections
from polymodal.search.records import (
    CollectionStats,
    Hit,
    ImageFacts,
    IndexReport,
    SearchResult,
    Skipped,
)
from polymodal.search.sheet import contact_sheet, write_contact_sheet

__all__ = [
    "Collection",
    "CollectionStats",
    "Hit",
    "ImageFacts",
    "IndexReport",
    "SearchResult",
    "Skipped",
    "contact_sheet",
    "default_db",
    "list_collections",
    "write_contact_sheet",
]
