"""The vision room: CLIP embeddings, classification, similarity, duplicates, moderation, and
the object detector.

``classify`` here is CLIP's answer alone; :func:`polymodal.classify` adds the advisor's word
on the labels (see :mod:`polymodal.tasks`). The detector is imported from
:mod:`polymodal.vision.detect` when needed (it pulls in torch).
"""

from polymodal.vision.cache import CacheStats, cache_stats, clear_cache
from polymodal.vision.classify import ClassificationResult, ImageLabels, LabelScore, classify
from polymodal.vision.dedup import find_duplicates
from polymodal.vision.dedup_report import (
    DuplicateFile,
    DuplicateGroup,
    DuplicateReport,
    remove_duplicates,
    report_format,
)
from polymodal.vision.embed import (
    Failure,
    ImageBatch,
    ImageEmbeddings,
    embed_images,
    embed_texts,
    get_encoder,
    iter_image_batches,
)
from polymodal.vision.encoder import ClipEncoder
from polymodal.vision.moderate import CategoryScore, ImageModeration, ModerationResult, moderate
from polymodal.vision.output import (
    EmbeddingExport,
    export_embeddings,
    output_format,
    write_embeddings,
)
from polymodal.vision.prompts import read_labels
from polymodal.vision.similarity import (
    Comparison,
    Match,
    Ranking,
    compare,
    rank_similar,
    similarity,
)

__all__ = [
    "CacheStats",
    "CategoryScore",
    "ClassificationResult",
    "ClipEncoder",
    "Comparison",
    "DuplicateFile",
    "DuplicateGroup",
    "DuplicateReport",
    "EmbeddingExport",
    "Failure",
    "ImageBatch",
    "ImageEmbeddings",
    "ImageLabels",
    "ImageModeration",
    "LabelScore",
    "Match",
    "ModerationResult",
    "Ranking",
    "cache_stats",
    "classify",
    "clear_cache",
    "compare",
    "embed_images",
    "embed_texts",
    "export_embeddings",
    "find_duplicates",
    "get_encoder",
    "iter_image_batches",
    "moderate",
    "output_format",
    "rank_similar",
    "read_labels",
    "remove_duplicates",
    "report_format",
    "similarity",
    "write_embeddings",
]
