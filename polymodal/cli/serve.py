"""``polymodal serve``: the OpenAI-compatible server on uvicorn (parse, check, run).

The flags become one :class:`~polymodal.server.ServerSettings`, checked before anything
starts: a host other than loopback without an API key is refused with a sentence and exit
code 2, so the models are never exposed by accident. The server's modules are imported only
when the command runs, so the rest of the CLI works without the ``server`` extra.
"""

from __future__ import annotations

from typing import Annotated

import typer

from polymodal.cli.app import FLAG_FOR_PARAM, app, err_console, guarded
from polymodal.errors import require

FLAG_FOR_PARAM.update(
    {
        "max_audio_bytes": "--max-upload-mb",
        "max_json_bytes": "--max-json-mb",
        "request_timeout_s": "--request-timeout",
    }
)

_opt = typer.Option


@app.command("serve")
@guarded
def serve_command(
    host: Annotated[
        str, _opt("--host", help="Address to listen on; off loopback needs --api-key.")
    ] = "127.0.0.1",
    port: Annotated[int, _opt("--port", help="Port to listen on.")] = 8000,
    api_key: Annotated[
        str | None,
        _opt("--api-key", envvar="POLYMODAL_API_KEY", help="Require Authorization: Bearer KEY."),
    ] = None,
    whisper_model: Annotated[
        str | None, _opt("--whisper-model", help="Whisper behind whisper-1: name or folder.")
    ] = None,
    clip_model: Annotated[
        str | None, _opt("--clip-model", help="CLIP behind the embedding names: name or folder.")
    ] = None,
    diffusion_model: Annotated[
        str | None,
        _opt("--diffusion-model", help="Stable Diffusion behind the image names: name or path."),
    ] = None,
    max_upload_mb: Annotated[
        float, _opt("--max-upload-mb", min=0.001, help="Largest audio upload, in MB.")
    ] = 25.0,
    max_json_mb: Annotated[
        float, _opt("--max-json-mb", min=0.001, help="Largest JSON request, in MB.")
    ] = 8.0,
    request_timeout: Annotated[
        float,
        _opt("--request-timeout", min=0.001, help="Seconds a request may run before a 504."),
    ] = 600.0,
    screen: Annotated[
        bool,
        _opt("--screen", help="Screen generated images with the CLIP moderation (blur flagged)."),
    ] = False,
    screen_categories: Annotated[
        str | None,
        _opt(
            "--screen-categories", help="Moderation TOML for --screen (as moderate --categories)."
        ),
    ] = None,
) -> None:
    """Serve Whisper, CLIP and Stable Diffusion behind OpenAI's API (point any OpenAI client
    at /v1) and the web page at /."""
    require("fastapi", "server")
    uvicorn = require("uvicorn", "server")
    from polymodal.server import ServerSettings, create_app
    from polymodal.server.settings import MB

    settings = ServerSettings.from_env(
        host=host,
        port=port,
        api_key=api_key,
        whisper_model=whisper_model,
        clip_model=clip_model,
        diffusion_model=diffusion_model,
        max_audio_bytes=int(max_upload_mb * MB),
        max_json_bytes=int(max_json_mb * MB),
        request_timeout_s=request_timeout,
        screen_generations=screen,
        screen_categories=screen_categories,
    ).checked()
    application = create_app(settings)
    key_note = "an API key" if settings.api_key else "no API key (loopback only)"
    err_console.print(
        f"polymodal serve: the page at http://{host}:{port}/, the API at /v1 with {key_note}; "
        "docs at /docs",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info")
