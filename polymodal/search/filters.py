"""Filters beside the query: a user's ``where`` plus date and camera options, as one SQL filter
LanceDB applies before the vector search (prefiltering: the k nearest *among* matching rows).

A filter that does not parse or names an unknown column becomes one sentence naming the
problem, never the query engine's trace.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from polymodal.errors import BadInputError
from polymodal.search.schema import COLUMNS


def compose(
    where: str | None = None,
    *,
    after: str | date | None = None,
    before: str | date | None = None,
    camera: str | None = None,
) -> str | None:
    """One SQL filter from the options (``after`` inclusive, ``before`` exclusive), or None."""
    parts = []
    if where and where.strip():
        parts.append(f"({where.strip()})")
    if after is not None:
        parts.append(f"date >= timestamp '{_when(after, 'after')}'")
    if before is not None:
        parts.append(f"date < timestamp '{_when(before, 'before')}'")
    if camera and camera.strip():
        needle = _like_pattern(camera.strip().lower())
        parts.append(f"(lower(camera_make) LIKE '{needle}' OR lower(camera_model) LIKE '{needle}')")
    return " AND ".join(parts) or None


def _when(value: str | date, param: str) -> str:
    """A date or date-time as the SQL timestamp literal's text."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadInputError(
                f"'{value}' is not a date; write it as YYYY-MM-DD (or YYYY-MM-DDTHH:MM).",
                param=param,
            ) from None
    return moment.replace(tzinfo=None).isoformat(sep=" ")


def _like_pattern(text: str) -> str:
    escaped = text.replace("'", "''").replace("%", r"\%").replace("_", r"\_")
    return f"%{escaped}%"


def check(table: Any, expression: str | None) -> None:
    """Run the filter once on no rows' worth of work, so a bad one fails before the search with
    a sentence (``param="where"``)."""
    if expression is None:
        return
    try:
        table.search().where(expression).select(["path"]).limit(1).to_arrow()
    except Exception as exc:  # LanceDB raises ValueError (and sometimes others) with its trace
        raise BadInputError(_explain(expression, str(exc)), param="where") from None


def _explain(expression: str, message: str) -> str:
    unknown = re.search(r"No field named ([^\s.]+)", message)
    if unknown:
        name = unknown.group(1).strip("`\"'")
        return f"The filter names an unknown column '{name}'; the columns are {', '.join(COLUMNS)}."
    detail = re.sub(r",?\s*/\S+\.rs:\d+:\d+", "", message)  # drop the Rust source location
    detail = re.sub(r"^Invalid input,\s*", "", detail).strip()
    detail = re.sub(r"^Error parsing statement: SELECT 1 FROM t WHERE \S.*?\(", "(", detail)
    return f"The filter '{expression}' is not valid: {detail.rstrip('.')}."
