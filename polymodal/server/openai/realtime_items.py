"""The conversation items of OpenAI's realtime protocol, around the transcription events.

A realtime server adds every committed buffer to the session's conversation as a user message
and says so: the GA protocol sends ``conversation.item.added`` right after
``input_audio_buffer.committed`` and ``conversation.item.done`` once the item's transcript is
final; the beta protocol (``transcription_session.update``) sends ``conversation.item.created``
after the commit instead. Clients that keep a list of the conversation (the SDKs' helpers, the
agents frameworks) build it from these events, so they are sent although a transcription
session has no replies. The item's audio is never echoed back (OpenAI omits it too).
"""

from __future__ import annotations

import uuid
from typing import Any


def _event_id() -> str:
    return f"event_{uuid.uuid4().hex[:20]}"


class ConversationItems:
    """The item events to send after each library event of one session."""

    def __init__(self) -> None:
        self.beta = False
        """Whether the client speaks the beta protocol (``transcription_session.update``)."""
        self._previous: dict[str, str | None] = {}

    def after(self, event: Any) -> list[dict[str, Any]]:
        """The item events that follow ``event`` (a :mod:`polymodal.speech.live_events` event)."""
        if event.kind == "committed":
            self._previous[event.item_id] = event.previous_item_id
            kind = "conversation.item.created" if self.beta else "conversation.item.added"
            return [self._item_event(kind, event.item_id, transcript=None, status="completed")]
        if event.kind in ("completed", "failed") and not self.beta:
            transcript = event.transcript if event.kind == "completed" else None
            status = "completed" if event.kind == "completed" else "incomplete"
            done = self._item_event("conversation.item.done", event.item_id, transcript, status)
            self._previous.pop(event.item_id, None)
            return [done]
        if event.kind in ("completed", "failed"):
            self._previous.pop(event.item_id, None)
        return []

    def _item_event(
        self, kind: str, item_id: str, transcript: str | None, status: str
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": item_id,
            "type": "message",
            "status": status,
            "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}],
        }
        if self.beta:
            item["object"] = "realtime.item"
        return {
            "type": kind,
            "event_id": _event_id(),
            "previous_item_id": self._previous.get(item_id),
            "item": item,
        }
