"""Whisper's language codes by their full English names, as OpenAI's API writes them."""

from __future__ import annotations

import polymodal
from polymodal.speech.language_names import LANGUAGE_NAMES


def test_every_language_whisper_knows_has_a_name():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(LANGUAGE_NAMES) == set(_LANGUAGE_CODES)
    assert all(name == name.lower() and name.strip() == name for name in LANGUAGE_NAMES.values())


def test_names_as_openai_writes_them():
    assert polymodal.language_name("en") == "english"
    assert polymodal.language_name(" DE ") == "german"
    assert polymodal.language_name("ht") == "haitian creole"
    assert polymodal.language_name("xx") == "xx"  # unknown: shown as it is
