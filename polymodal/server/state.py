"""What every route reads: the settings, the model names it answers to, and the family pools.

One :class:`ServerState` per app, on ``app.state.polymodal``; routes get it with
:func:`server_state`. Models themselves are not held here: the library's catalogue keeps them
resident and shares them (the first request of a model loads it; the others wait on that load).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from polymodal.server.limits import FamilyPool
from polymodal.server.names import ModelNames
from polymodal.server.settings import CLIP_ALIASES, WHISPER_ALIASES, ServerSettings


@dataclass
class ServerState:
    settings: ServerSettings
    whisper: ModelNames
    clip: ModelNames
    speech: FamilyPool
    embeddings: FamilyPool
    started: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def of(cls, settings: ServerSettings) -> ServerState:
        retry = settings.retry_after_s
        return cls(
            settings=settings,
            whisper=ModelNames("whisper", settings.whisper_model, WHISPER_ALIASES),
            clip=ModelNames("clip", settings.clip_model, CLIP_ALIASES),
            speech=FamilyPool("speech", settings.speech, retry),
            embeddings=FamilyPool("embedding", settings.embeddings, retry),
        )

    def shutdown(self) -> None:
        for pool in (self.speech, self.embeddings):
            pool.shutdown()


def server_state(request: Request) -> ServerState:
    return request.app.state.polymodal
