"""polymodal: CLIP, Whisper and Stable Diffusion as dependable local tools.

The public API. Names are imported lazily so ``import polymodal`` stays fast and a missing
optional extra only matters when its feature is used::

    import polymodal
    transcript = polymodal.transcribe("meeting.mp3", word_timestamps=True)
    result = polymodal.classify(["cat.jpg"], labels=["cat", "dog"])
    check = polymodal.check_query("three red cars left of a truck")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # catalogue and errors
    "list_models": "polymodal.catalog",
    "resolve_model": "polymodal.catalog",
    "load_model": "polymodal.catalog",
    "unload_models": "polymodal.catalog",
    "resident_models": "polymodal.catalog",
    "default_model": "polymodal.catalog",
    "PolymodalError": "polymodal.errors",
    "BadInputError": "polymodal.errors",
    "ModelUnavailableError": "polymodal.errors",
    "TooLargeError": "polymodal.errors",
    "NoSpeechError": "polymodal.errors",
    "BusyError": "polymodal.errors",
    "CancelledError": "polymodal.errors",
    # progress, cancellation and the one serialiser
    "Progress": "polymodal.progress",
    "CancelToken": "polymodal.progress",
    "to_data": "polymodal.render",
    "to_json": "polymodal.render",
    "from_data": "polymodal.render",
    # speech
    "transcribe": "polymodal.speech",
    "transcribe_folder": "polymodal.speech",
    "Transcriber": "polymodal.speech",
    "diarize": "polymodal.speech",
    "SpeakerOptions": "polymodal.speech",
    "DecodeOptions": "polymodal.speech",
    "Transcript": "polymodal.speech",
    "LanguageTime": "polymodal.speech.results",
    "Diarization": "polymodal.speech",
    "to_rttm": "polymodal.speech.speakers.rttm",
    "write_rttm": "polymodal.speech.speakers.rttm",
    "rttm_file_id": "polymodal.speech.speakers.rttm",
    "transcribe_files": "polymodal.speech",
    "find_media": "polymodal.speech",
    "write_transcripts": "polymodal.speech",
    "render_transcript": "polymodal.speech",
    "output_formats": "polymodal.speech",
    "readable_transcript": "polymodal.speech",
    "language_name": "polymodal.speech.language_names",
    "probe_audio": "polymodal.media.audio",
    "load_image": "polymodal.media.image",
    "read_image_header": "polymodal.media.image",
    "MAX_IMAGE_PIXELS": "polymodal.media.image",
    "write_atomic": "polymodal.media.files",
    "RayTranscriber": "polymodal.speech.distributed",
    "LiveSession": "polymodal.speech.live",
    "LiveOptions": "polymodal.speech.live",
    "LiveEvent": "polymodal.speech.live",
    # vision
    "embed_images": "polymodal.vision",
    "iter_image_batches": "polymodal.vision",
    "embed_texts": "polymodal.vision",
    "export_embeddings": "polymodal.vision",
    "output_format": "polymodal.vision",
    "ClipEncoder": "polymodal.vision",
    "get_encoder": "polymodal.vision",
    "read_labels": "polymodal.vision",
    "similarity": "polymodal.vision",
    "compare": "polymodal.vision",
    "rank_similar": "polymodal.vision",
    "find_duplicates": "polymodal.vision",
    "remove_duplicates": "polymodal.vision",
    "report_format": "polymodal.vision",
    "moderate": "polymodal.vision",
    "cache_stats": "polymodal.vision",
    "clear_cache": "polymodal.vision",
    # search
    "Collection": "polymodal.search",
    "list_collections": "polymodal.search",
    "IndexReport": "polymodal.search",
    "SearchResult": "polymodal.search",
    "write_contact_sheet": "polymodal.search",
    "thumbnail_uri": "polymodal.search.sheet",
    "search_images": "polymodal.tasks",
    # advisor, and the tasks composing it with vision
    "check_query": "polymodal.advisor",
    "check_queries": "polymodal.advisor",
    "classify": "polymodal.tasks",
    "count_objects": "polymodal.tasks",
    "diagnose": "polymodal.tasks",
    # generation (Stable Diffusion)
    "generate": "polymodal.diffusion",
    "iter_generate": "polymodal.diffusion",
    "GenerateOptions": "polymodal.diffusion",
    "Generation": "polymodal.diffusion",
    "GeneratedImage": "polymodal.diffusion",
    "DEFAULT_NEGATIVE": "polymodal.diffusion",
    "scheduler_names": "polymodal.diffusion",
    "save_images": "polymodal.diffusion",
    "save_image": "polymodal.diffusion",
    "output_paths": "polymodal.diffusion",
    "parse_size": "polymodal.diffusion",
    "parse_lora": "polymodal.diffusion",
    "LoraWeight": "polymodal.diffusion",
    "control_request": "polymodal.diffusion",
    "canny_edges": "polymodal.diffusion",
    "read_parameters": "polymodal.diffusion",
    "options_from_image": "polymodal.diffusion",
    "screen_image": "polymodal.tasks.screen",
    "screen_generation": "polymodal.tasks.screen",
}

_RENAMED = {
    "resolve_model": "resolve",
    "load_model": "load",
    "unload_models": "unload",
    "resident_models": "resident",
    "probe_audio": "probe_duration",
    "scheduler_names": "known_names",
    "canny_edges": "canny",
    "read_image_header": "read_header",
    "MAX_IMAGE_PIXELS": "DEFAULT_MAX_PIXELS",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'polymodal' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = getattr(module, _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
