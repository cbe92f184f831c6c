"""The vision room: CLIP embeddings, classification, similarity, duplicates, moderation."""

from polymodal.vision.cache import CacheStats, cache_stats, clear_cache
from polymodal.vision.classify import ClassificationResult, ImageLabels, LabelScore, classify
from polymodal.vision.dedup import find_duplicates
from polymodal.vision.dedup_report import (
    DuplicateFile,
    DuplicateGroup,
    DuplicateReport,
    remove_duplicates,
)
from polymodal.vision.embed import (
    Failure,
    ImageEmbeddings,
    embed_images,
    embed_texts,
    get_encoder,
)
from polymodal.vision.encoder import ClipEncoder
from polymodal.vision.moderate import CategoryScore, ImageModeration, ModerationResult, moderate
from polymodal.vision.output import output_format, write_embeddings
from polymodal.vision.similarity import Match, Ranking, rank_similar, similarity

__all__ = [
    "CacheStats",
    "CategoryScore",
    "ClassificationResult",
    "ClipEncoder",
    "DuplicateFile",
    "DuplicateGroup",
    "DuplicateReport",
    "Failure",
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
    "embed_images",
    "embed_texts",
    "find_duplicates",
    "get_encoder",
    "moderate",
    "output_format",
    "rank_similar",
    "remove_duplicates",
    "similarity",
    "write_embeddings",
]
