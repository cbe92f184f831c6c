"""What every route reads: the settings, the model names it answers to, and the family pools.

One :class:`ServerState` per app, on ``app.state.polymodal``; routes get it with
:func:`server_state`. Models themselves are not held here: the library's catalogue keeps them
resident and shares them (the first request of a model loads it; the others wait on that load).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from polymodal.server.batching import Embedder, Transcriptions, speech_threads
from polymodal.server.limits import FamilyPool
from polymodal.server.names import ModelNames
from polymodal.server.settings import (
    CLIP_ALIASES,
    DIFFUSION_ALIASES,
    WHISPER_ALIASES,
    ServerSettings,
)

#: OpenAI's moderation model names; each is answered by the default CLIP model's screening.
MODERATION_ALIASES = ("omni-moderation-latest", "text-moderation-latest", "clip")


@dataclass
class ServerState:
    settings: ServerSettings
    whisper: ModelNames
    clip: ModelNames
    speech: FamilyPool
    embeddings: FamilyPool
    moderation: ModelNames
    images: FamilyPool
    advisor: FamilyPool
    diffusion: ModelNames
    generation: FamilyPool
    embedder: Embedder
    transcriptions: Transcriptions
    started: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def of(cls, settings: ServerSettings) -> ServerState:
        retry = settings.retry_after_s
        return cls(
            settings=settings,
            whisper=ModelNames("whisper", settings.whisper_model, WHISPER_ALIASES),
            clip=ModelNames("clip", settings.clip_model, CLIP_ALIASES),
            speech=FamilyPool("speech", speech_threads(settings), retry),
            embeddings=FamilyPool("embedding", settings.embeddings, retry),
            moderation=ModelNames("clip", settings.clip_model, MODERATION_ALIASES),
            images=FamilyPool("image", settings.images, retry),
            advisor=FamilyPool("advisor", settings.advisor, retry),
            diffusion=ModelNames("diffusion", settings.diffusion_model, DIFFUSION_ALIASES),
            generation=FamilyPool("generation", settings.generation, retry),
            embedder=Embedder(settings),
            transcriptions=Transcriptions(settings),
        )

    def shutdown(self) -> None:
        for pool in self.pools():
            pool.shutdown()
        self.embedder.shutdown()  # after the pools: a speech worker may still wait on a batch
        self.transcriptions.shutdown()

    def pools(self) -> tuple[FamilyPool, ...]:
        """Every family's pool (what shutdown drains and ``/metrics`` reports)."""
        return (self.speech, self.embeddings, self.images, self.advisor, self.generation)


def server_state(request: Request) -> ServerState:
    return request.app.state.polymodal
