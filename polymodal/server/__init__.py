"""``polymodal serve``: an OpenAI-compatible server over the public Python API.

The official ``openai`` client works against it unchanged (``base_url=".../v1"``)::

    from polymodal.server import ServerSettings, create_app
    app = create_app(ServerSettings(whisper_model="whisper-base"))

Files: ``settings`` (one record of what the server is told), ``app`` (the FastAPI app),
``openai/`` (one route module per family), ``errors`` (OpenAI's error shape), ``limits``
(family pools, admission, upload limits), ``security`` (the API key), ``names`` (a request's
model name to a model), ``uploads`` (an upload onto the disk, sniffed), ``state``.
Needs the ``server`` extra: ``pip install 'polymodal[server]'``.
"""

from polymodal.server.app import create_app
from polymodal.server.settings import FamilyLimits, ServerSettings

__all__ = ["FamilyLimits", "ServerSettings", "create_app"]
