"""A search's hits as a contact sheet: one self-contained HTML file with thumbnails.

Self-contained because people mail it, open it on another machine or keep it after the photos
moved: every thumbnail is an inline JPEG (``data:`` URI, 256 px on the long side), so the page
opens offline with nothing beside it. Links still point at the originals.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from polymodal.errors import BadInputError
from polymodal.media.files import write_atomic
from polymodal.media.image import load_image
from polymodal.search.records import Hit, SearchResult

THUMBNAIL_SIDE = 256

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.2rem; } p.note { color: #8a4b00; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 12px; }
figure { margin: 0; background: #fff; padding: 8px; border-radius: 6px;
         box-shadow: 0 1px 3px rgba(0,0,0,.15); }
figure img { width: 100%; height: 200px; object-fit: contain; background: #eee; }
figcaption { font-size: .8rem; word-break: break-all; margin-top: 4px; }
"""


def thumbnail_uri(path: str) -> str | None:
    """A small inline JPEG of the image, or None when the file cannot be read any more."""
    try:
        image = load_image(path, min_side=THUMBNAIL_SIDE)
    except BadInputError:
        return None
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(hit: Hit) -> str:
    uri = thumbnail_uri(hit.path)
    picture = f'<img src="{uri}" alt="">' if uri else "<p>(file no longer readable)</p>"
    link = Path(hit.path).resolve().as_uri()
    caption = (
        f"#{hit.rank} · score {hit.score:.3f} · confidence {hit.confidence:.0%}<br>"
        f'<a href="{html.escape(link)}">{html.escape(hit.path)}</a>'
    )
    return f"<figure>{picture}<figcaption>{caption}</figcaption></figure>"


def contact_sheet(result: SearchResult, notes: tuple[str, ...] = ()) -> str:
    """The hits of ``result`` as one HTML page (``notes``: warnings to show above them)."""
    title = f"{result.collection}: {result.query}"
    lines = [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    if result.message:
        lines.append(f'<p class="note">{html.escape(result.message)}</p>')
    figures = "\n".join(_figure(hit) for hit in result.hits)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)} ({len(result.hits)} hits, {html.escape(result.cutoff)})</h1>"
        f'{"".join(lines)}<div class="grid">\n{figures}\n</div></body></html>\n'
    )


def write_contact_sheet(
    result: SearchResult, path: str | os.PathLike[str], notes: tuple[str, ...] = ()
) -> Path:
    """Write :func:`contact_sheet` to ``path`` atomically; returns the path."""
    target = Path(path).expanduser()
    write_atomic(target, contact_sheet(result, notes))
    return target
