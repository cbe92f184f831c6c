"""Texts spoken in the speech tests, and how their transcripts are scored."""

from __future__ import annotations

import re

PASSAGE = (
    "Scientists have studied the migration of birds for more than one century. Some small "
    "birds fly across whole continents every autumn, crossing mountains, deserts and open sea "
    "without stopping to eat. They find their way using the position of the sun, the pattern "
    "of the stars, and the magnetic field of the earth. Young birds often make the journey "
    "alone, following an inner sense of direction they are born with. Weather plays a large "
    "part in their success: strong winds can carry them far off course, while a clear night "
    "with a gentle breeze lets them travel quickly."
)
SHORT = (
    "Every morning the baker opens his shop before the sun rises. He mixes flour, water and "
    "salt, and shapes the dough into long loaves and small round rolls. While the bread bakes, "
    "the smell drifts down the quiet street and wakes the whole town."
)
BEFORE = "The first part of the message is spoken before a long pause."
AFTER = "And this second part of the message comes after the silence."
SPANISH = (
    "Hola. Me llamo Carlos. Vivo en Madrid con mi familia. Me gusta mucho el fútbol y la "
    "música. Todos los días voy al trabajo en tren."
)
CLIP_TEXTS = (
    "Please buy milk and eggs on the way home.",
    "The meeting moves to Thursday afternoon at three.",
    "Remember to water the plants in the garden.",
)


def words(text: str) -> str:
    """Lower-case words for word error rate: punctuation and case don't count as errors."""
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(words(reference), words(hypothesis))
