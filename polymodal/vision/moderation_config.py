"""Moderation categories: the packaged defaults merged with an optional user TOML file.

Kept apart from the scoring so the rules for a user's file (which fields, how they merge,
what is an error) read in one place. A mistake in a user's file is a :class:`BadInputError`
naming the file and the key, never a silently ignored setting.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from polymodal.errors import BadInputError

_CATEGORY_KEYS = {"description", "threshold", "prompts", "contrast", "with_any", "enabled"}
_TOP_KEYS = {"neutral", "categories", "replace_defaults"}
_PARAM = "categories_file"  # every mistake here is in the user's categories file


@dataclass(frozen=True)
class Category:
    """A safety category: its prompts, contrasting look-alikes, threshold, and partners.

    ``with_any`` names categories that must also score high for this one to count (its score
    is the smaller of its own and their highest).
    """

    name: str
    description: str
    prompts: tuple[str, ...]
    contrast: tuple[str, ...]
    threshold: float
    with_any: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModerationConfig:
    """The categories in use and the neutral prompts every category is contrasted with."""

    categories: tuple[Category, ...]
    neutral: tuple[str, ...]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadInputError(f"{where} must be a list of non-empty strings.", param=_PARAM)
    return tuple(v.strip() for v in value)


def _merge(base: Category | None, name: str, table: dict[str, Any], source: str) -> Category:
    where = f"{source}: [categories.{name}]"
    unknown = sorted(set(table) - _CATEGORY_KEYS)
    if unknown:
        raise BadInputError(f"{where} has unknown keys: {', '.join(unknown)}.", param=_PARAM)
    category = base or Category(name, name, (), (), 0.5)
    changes: dict[str, Any] = {}
    for key in ("prompts", "contrast", "with_any"):
        if key in table:
            changes[key] = _strings(table[key], f"{where} {key}")
    if "description" in table:
        changes["description"] = str(table["description"])
    if "threshold" in table:
        threshold = table["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise BadInputError(
                f"{where} threshold must be a number between 0 and 1.", param=_PARAM
            )
        if not 0.0 < float(threshold) <= 1.0:
            raise BadInputError(
                f"{where} threshold {threshold} is not between 0 and 1.", param=_PARAM
            )
        changes["threshold"] = float(threshold)
    return replace(category, **changes)


def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"Categories file '{path}' does not exist.", param=_PARAM) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"Categories file '{path}' cannot be read ({exc}).", param=_PARAM
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(
            f"Categories file '{path}' is not valid TOML ({exc}).", param=_PARAM
        ) from exc


def _packaged() -> dict[str, Any]:
    text = resources.files("polymodal.vision").joinpath("data/moderation.toml").read_text("utf-8")
    return tomllib.loads(text)


def _apply(
    categories: dict[str, Category],
    neutral: tuple[str, ...],
    data: dict[str, Any],
    source: str,
    disabled: set[str],
) -> tuple[dict[str, Category], tuple[str, ...]]:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise BadInputError(
            f"{source} has unknown top-level keys: {', '.join(unknown)}.", param=_PARAM
        )
    if "neutral" in data:
        neutral = _strings(data["neutral"], f"{source}: neutral")
    tables = data.get("categories", {})
    if not isinstance(tables, dict):
        raise BadInputError(f"{source}: 'categories' must be a table of categories.", param=_PARAM)
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise BadInputError(f"{source}: categories.{name} must be a table.", param=_PARAM)
        if table.get("enabled", True) is False:
            categories.pop(name, None)
            disabled.add(name)
            continue
        categories[name] = _merge(categories.get(name), name, table, source)
    return categories, neutral


def _drop_disabled_partners(categories: dict[str, Category], disabled: set[str]) -> None:
    """Forget partners the user turned off; a combination left with none is turned off too."""
    for name, category in list(categories.items()):
        if not category.with_any:
            continue
        kept = tuple(p for p in category.with_any if p not in disabled)
        if kept:
            categories[name] = replace(category, with_any=kept)
        else:
            del categories[name]


def _validate(categories: dict[str, Category], source: str) -> None:
    if not categories:
        raise BadInputError(f"{source} leaves no moderation categories enabled.", param=_PARAM)
    for category in categories.values():
        if not category.prompts:
            raise BadInputError(
                f"{source}: category '{category.name}' has no prompts.", param=_PARAM
            )
        for partner in category.with_any:
            if partner not in categories or categories[partner].with_any:
                raise BadInputError(
                    f"{source}: category '{category.name}' lists '{partner}' in with_any, "
                    "which is not a plain category.",
                    param=_PARAM,
                )


def load_categories(path: str | os.PathLike[str] | None = None) -> ModerationConfig:
    """The packaged categories, changed by the user's TOML file at ``path`` if given."""
    disabled: set[str] = set()
    categories, neutral = _apply({}, (), _packaged(), "moderation.toml", disabled)
    source = "moderation.toml"
    if path is not None:
        source = f"Categories file '{path}'"
        data = _parse(Path(path))
        if data.get("replace_defaults", False):
            categories, neutral = {}, ()
        categories, neutral = _apply(categories, neutral, data, source, disabled)
    _drop_disabled_partners(categories, disabled)
    _validate(categories, source)
    if not neutral and not all(c.contrast for c in categories.values()):
        raise BadInputError(
            f"{source}: every category needs contrast prompts without neutral.", param=_PARAM
        )
    return ModerationConfig(categories=tuple(categories.values()), neutral=neutral)
