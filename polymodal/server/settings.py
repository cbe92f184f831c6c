"""The server's settings, in one record: where it listens, who may call it, how much it takes.

Built once at the edge (``polymodal serve``'s flags, or a caller's own code) and handed to
:func:`polymodal.server.create_app`. :meth:`ServerSettings.checked` refuses a configuration
that would expose the models to the network without a key, so no caller can start one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace

from polymodal.config import pick_device
from polymodal.errors import BadInputError

#: OpenAI's speech model names; each is answered by the configured default Whisper model.
WHISPER_ALIASES = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
)
#: OpenAI's embedding model names (and ``clip``); each is answered by the default CLIP model.
CLIP_ALIASES = (
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "clip",
)
#: OpenAI's image model names; each is answered by the configured default diffusion model.
DIFFUSION_ALIASES = (
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "chatgpt-image-latest",
)

MB = 1024 * 1024


@dataclass(frozen=True)
class FamilyLimits:
    """How much work of one model family runs at once (``workers``) and how much more may
    wait (``queue``); a request past both is answered 429 at once, not queued forever."""

    workers: int
    queue: int

    @property
    def capacity(self) -> int:
        return self.workers + self.queue


@dataclass(frozen=True)
class ServerSettings:
    """Everything :func:`~polymodal.server.create_app` needs; every field has a default.

    One Whisper worker by default: a transcription already uses every core (CTranslate2's
    threads), so two at once only share them. Two embedding workers: a text batch is short
    and the ONNX encoder is thread-safe, so one can tokenise while the other computes.
    Upload limits: 25 MB of audio, as OpenAI's API allows; 8 MB of JSON (2048 texts of a
    thousand words each fit).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    """When set, every route but ``GET /healthz`` needs ``Authorization: Bearer <key>``."""
    whisper_model: str | None = None
    """The Whisper model OpenAI's names map to: a catalogue name or a model folder (``None``:
    the library's default, ``POLYMODAL_WHISPER_MODEL``)."""
    clip_model: str | None = None
    """The CLIP model OpenAI's embedding names map to (``None``: ``POLYMODAL_CLIP_MODEL``)."""
    diffusion_model: str | None = None
    """The Stable Diffusion model OpenAI's image names map to: a catalogue name, a diffusers
    folder or a checkpoint file (``None``: the catalogue's default diffusion model)."""
    detector_model: str | None = None
    """The object detector ``/v1/polymodal/count`` uses: a catalogue name or a DETR folder
    (``None``: the catalogue's default detector)."""
    max_audio_bytes: int = 25 * MB
    max_json_bytes: int = 8 * MB
    speech: FamilyLimits = FamilyLimits(workers=1, queue=8)
    embeddings: FamilyLimits = FamilyLimits(workers=2, queue=64)
    generation: FamilyLimits = FamilyLimits(workers=1, queue=4)
    """Image generation: one at a time (a denoising step already uses every core) and a short
    queue, since each request holds its worker for seconds to minutes."""
    screen_generations: bool = False
    """Generated images go through the CLIP moderation (``clip_model``) before they are
    answered: a flagged one comes back blurred and marked (``screened``), never dropped."""
    screen_categories: str | None = None
    """A moderation TOML for that screening (as ``polymodal moderate --categories``): other
    categories or thresholds than the packaged ones."""
    images: FamilyLimits = FamilyLimits(workers=1, queue=16)
    """Image work (classify, moderate, dedup, count, collections): one worker, as an image
    batch already uses every core; a short queue, since each request may carry many images."""
    advisor: FamilyLimits = FamilyLimits(workers=1, queue=64)
    """The advisor is pure text and answers in milliseconds once its parser is loaded."""
    batching: bool = True
    """Dynamic batching: concurrent embedding requests share one encoder call and concurrent
    short transcriptions share the decoder's batches (off: each request runs alone)."""
    embedding_batch_max: int = 32
    """Inputs in one encoder call: the towers run 32 at a time, so more only adds waiting."""
    embedding_batch_wait_ms: float = 20.0
    """The most a batch waits for more requests while the load brings them (never more than a
    quarter of the last batch's run; a lone request never waits)."""
    speech_batch_wait_ms: float = 200.0
    """The same for transcriptions (a batch of clips decodes for seconds)."""
    speech_batching: bool | None = None
    """Whether short transcriptions share decoder batches when ``batching`` is on (``None``:
    on a GPU only, where a pass's fixed cost dominates; on 2 CPU cores shared batches served
    0.82x the requests of one at a time, ``bench/server.py``)."""
    retry_after_s: int = 2
    """What a 429 tells the client to wait before trying again (``Retry-After``)."""
    request_timeout_s: float = 600.0
    """How long a request's model work may run (its wait for a worker included) before it is
    stopped and answered 504. 600 s is the official client's own default timeout: a client
    left at its defaults has given up by then, so work past it would be wasted."""

    def batches_speech(self) -> bool:
        """Whether concurrent short transcriptions share decoder batches (see
        ``speech_batching``)."""
        if not self.batching:
            return False
        if self.speech_batching is not None:
            return self.speech_batching
        return pick_device() == "cuda"

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        """Settings from keyword overrides, the key from ``POLYMODAL_API_KEY`` when none is
        given; overrides that are ``None`` mean "not given" (a CLI flag left out)."""
        given = {name: value for name, value in overrides.items() if value is not None}
        if "api_key" not in given and os.environ.get("POLYMODAL_API_KEY"):
            given["api_key"] = os.environ["POLYMODAL_API_KEY"]
        return cls(**given)  # type: ignore[arg-type]

    @property
    def loopback(self) -> bool:
        """Whether the server listens on this machine only."""
        return is_loopback(self.host)

    def checked(self) -> ServerSettings:
        """These settings, or a sentence saying why the server must not start with them."""
        if self.api_key is not None and not self.api_key.strip():
            raise BadInputError("The API key is empty: give a real key or none.", param="api_key")
        if not self.loopback and not self.api_key:
            raise BadInputError(
                f"Listening on {self.host} lets other machines use the models: set an API key "
                "(--api-key or POLYMODAL_API_KEY), or keep the default host 127.0.0.1.",
                param="api_key",
            )
        if not 0 <= self.port <= 65535:
            raise BadInputError(f"The port must be 0-65535, not {self.port}.", param="port")
        if not self.request_timeout_s > 0:
            raise BadInputError(
                f"The request timeout must be above 0 seconds, not {self.request_timeout_s}.",
                param="request_timeout_s",
            )
        for name in ("max_audio_bytes", "max_json_bytes"):
            if getattr(self, name) < 1:
                raise BadInputError(f"The upload limit {name} must be positive.", param=name)
        for family in (self.speech, self.embeddings, self.generation):
            if family.workers < 1 or family.queue < 0:
                raise BadInputError(
                    "A family needs at least one worker and a queue of zero or more.",
                    param="workers",
                )
        return replace(self, api_key=self.api_key.strip() if self.api_key else None)


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost`` and the rest of 127/8; anything else (``0.0.0.0``,
    a LAN address, a host name) may be reachable from elsewhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return False
