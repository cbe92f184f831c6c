"""Whisper's decoder on a batch of encoded windows, with its quality guards.

Beam search (or greedy) first; a window whose text loops (compression ratio) or is unsure
(average log-probability) is decoded again by sampling at rising temperatures, and the first
attempt that passes both checks is kept, as faster-whisper's ``generate_with_fallback`` does. A
window Whisper itself judges silent is dropped by the caller. What travels out is a
:class:`Hypothesis` per window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from polymodal.speech.options import DecodeOptions

MODEL_MAX_LENGTH = 448  # Whisper's decoder context, prompt included
TOKENS_PER_SECOND = 15  # the bound on tokens per second of window (see max_length)
TOKEN_ALLOWANCE = 16


@dataclass(frozen=True)
class Hypothesis:
    """One window's decoded tokens (timestamps included) and Whisper's scores of them.

    ``temperature`` is 0 for beam search or greedy decoding, else the sampling temperature of the
    attempt that was kept; ``loop_from`` is where in ``tokens`` a repetition loop begins that
    the last-resort guard cut short (:func:`guard_loop`), ``None`` when there is none.
    """

    tokens: tuple[int, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float = 0.0
    loop_from: int | None = None

    @property
    def loop(self) -> bool:
        return self.loop_from is not None

    @property
    def sampled(self) -> bool:
        """Whisper resets its prompt after a window decoded above 0.5 (one bad window must not
        prime the next)."""
        return self.temperature > 0.5


def max_length(prompt_tokens: int, window_seconds: float) -> int:
    """CTranslate2's ``max_length`` (prompt included) for a window of ``window_seconds``.

    Whisper allows 448 tokens whatever the window's length, so a loop runs on to fill them: 112
    "yeah," over 25 s of a meeting. Real English peaked at 5.2 text tokens per second of segment
    (2.2-4.4 typical, AMI meetings and FLEURS), but French needs more tokens a word: at 10 a
    second (+ 16) one fast FLEURS French utterance lost 2 of its 30 words, at 12 none; so
    ``15 * seconds + 16``, and a 5 s window can no longer hold a 400-token loop. Measured on
    the 41 real recordings under 30 s: no word lost against no bound.
    """
    allowed = math.ceil(TOKENS_PER_SECOND * window_seconds) + TOKEN_ALLOWANCE
    return min(MODEL_MAX_LENGTH, prompt_tokens + allowed)


def generate(
    engine,
    encoder_output,
    tokenizers: Sequence,
    previous: Sequence[list[int]],
    options: DecodeOptions,
    seconds: float,
    overrides: dict | None = None,
) -> list[Hypothesis]:
    """Decode a batch with faster-whisper's own ``generate`` arguments; keep the top hypothesis.

    ``tokenizers`` gives each window its own language; ``seconds`` is the longest window's
    length (the token bound, :func:`max_length`). ``overrides`` replaces CTranslate2 ``generate``
    settings (the fallback's wider beam and sampling).

    Measured token for token against ``WhisperModel.generate_with_fallback`` on the same
    features: same text, same scores. (Asking CTranslate2 for every beam's finalist, to prefer
    one that reads to the window's end, cost 10-25 % of the time and changed no word on our
    passages; a window Whisper ends early has its tail decoded again by the caller.)
    """
    from faster_whisper.transcribe import get_suppressed_tokens

    model = engine.model
    prompts = [
        model.get_prompt(t, p, without_timestamps=False)
        for t, p in zip(tokenizers, previous, strict=True)
    ]
    settings_ = {
        "beam_size": options.beam_size,
        "max_length": max_length(len(prompts[0]), seconds),
        "suppress_blank": True,
        "suppress_tokens": get_suppressed_tokens(tokenizers[0], [-1]),
        "return_scores": True,
        "return_no_speech_prob": True,
        "max_initial_timestamp_index": 50,
    }
    settings_.update(overrides or {})
    temperature = float(settings_.get("sampling_temperature", 0.0))
    results = model.model.generate(encoder_output, prompts, **settings_)
    return [
        _hypothesis(result, tokenizer, temperature)
        for result, tokenizer in zip(results, tokenizers, strict=True)
    ]


def _hypothesis(result, tokenizer, temperature: float) -> Hypothesis:
    tokens = tuple(result.sequences_ids[0])
    text = tokenizer.decode([t for t in tokens if t < tokenizer.eot])
    return Hypothesis(
        tokens=tokens,
        # CTranslate2's score is normalised by length; Whisper's average counts the
        # end-of-text token too.
        avg_logprob=result.scores[0] * len(tokens) / (len(tokens) + 1),
        no_speech_prob=result.no_speech_prob,
        compression_ratio=compression_ratio(text),
        temperature=temperature,
    )


def compression_ratio(text: str) -> float:
    """Whisper's loop signal: how well the text compresses (0 for no text)."""
    from faster_whisper.transcribe import get_compression_ratio

    return get_compression_ratio(text) if text.strip() else 0.0


def is_silence(output: Hypothesis, options: DecodeOptions) -> bool:
    if options.no_speech_threshold is None or output.no_speech_prob <= options.no_speech_threshold:
        return False
    return options.log_prob_threshold is None or output.avg_logprob < options.log_prob_threshold


def needs_fallback(output: Hypothesis, options: DecodeOptions) -> bool:
    if is_silence(output, options):
        return False
    ratio, logprob = options.compression_ratio_threshold, options.log_prob_threshold
    return (ratio is not None and output.compression_ratio > ratio) or (
        logprob is not None and output.avg_logprob < logprob
    )


def attempts(options: DecodeOptions) -> list[dict]:
    """The fallback's decoder settings, in order: a beam of 5 when the first pass was narrower,
    then sampling (best of 5) at each of ``options.temperatures``."""
    wider = [{"beam_size": 5}] if options.beam_size < 5 else []
    return wider + [
        {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0, "sampling_temperature": t}
        for t in options.temperatures
    ]


def retry(
    engine, features, tokenizer, previous, options: DecodeOptions, first: Hypothesis, seconds: float
) -> Hypothesis:
    """Decode a failed window again until an attempt passes :func:`needs_fallback`'s checks.

    The first attempt that passes wins; when none does, :func:`best_attempt` picks. (The rule it
    replaces kept an attempt only if its log-probability beat the first pass's, and a loop is
    confident: on a meeting excerpt primed with "Yeah, yeah", beam search gave -0.15 at
    compression 30.5 and sampling at 0.4 gave -0.73 at 1.70, which passes both checks, yet the
    loop was kept: 112 "yeah," over 25 s. faster-whisper's rule: 5 repeats.)
    """
    encoder_output = engine.model.encode(features)
    tried = [first]
    for attempt in attempts(options):
        output = generate(
            engine, encoder_output, [tokenizer], [previous], options, seconds, attempt
        )[0]
        if not needs_fallback(output, options):
            return output
        tried.append(output)
    return best_attempt(tried, options)


def best_attempt(tried: Sequence[Hypothesis], options: DecodeOptions) -> Hypothesis:
    """When every attempt fails: the best log-probability among those at or under the
    compression threshold (a loop is confident, so it must not win on confidence), else among
    all of them."""
    limit = options.compression_ratio_threshold
    under = [h for h in tried if limit is None or h.compression_ratio <= limit]
    return max(under or tried, key=lambda h: h.avg_logprob)


def guard_loop(output: Hypothesis, tokenizer, options: DecodeOptions) -> Hypothesis:
    """The last-resort repetition guard on the output kept: a loop is cut after the second
    repeat of its looping n-gram and marked (``loop_from``); the caller consumes the whole
    window, and the segments from the loop on are flagged ``loop``."""
    from polymodal.speech.tokens import cut_loop

    limit = options.compression_ratio_threshold
    over = limit is not None and output.compression_ratio > limit
    found = cut_loop(output.tokens, tokenizer, compressed=over)
    if found is None:
        return output
    tokens, start = found
    return replace(output, tokens=tokens, loop_from=start)
