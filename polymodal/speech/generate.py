"""Whisper's decoder on a batch of encoded chunks, with its quality guards.

Beam search (or greedy) first; a chunk whose text loops (compression ratio) or is unsure (average
log-probability) is decoded again by sampling (after a beam of 5 if the first pass was narrower),
as Whisper does; a chunk Whisper itself judges silent is dropped by the caller.
"""

from __future__ import annotations

from polymodal.speech.options import DecodeOptions


def generate(
    engine, encoder_output, tokenizers, previous, options, overrides: dict | None = None
) -> list[dict]:
    """Decode a batch with faster-whisper's own ``generate`` arguments; keep the top hypothesis.

    ``overrides`` replaces CTranslate2 ``generate`` settings (the fallback's wider beam and
    sampling).

    Measured token for token against ``WhisperModel.generate_with_fallback`` on the same
    features: same text, same scores. (Asking CTranslate2 for every beam's finalist, to prefer
    one that reads to the chunk's end, cost 10-25 % of the time and changed no word on our
    passages; a chunk Whisper ends early has its tail decoded again by the caller.)
    """
    from faster_whisper.transcribe import get_suppressed_tokens

    model = engine.model
    prompts = [
        model.get_prompt(t, p, without_timestamps=False)
        for t, p in zip(tokenizers, previous, strict=True)
    ]
    settings_ = {
        "beam_size": options.beam_size,
        "max_length": model.max_length,
        "suppress_blank": True,
        "suppress_tokens": get_suppressed_tokens(tokenizers[0], [-1]),
        "return_scores": True,
        "return_no_speech_prob": True,
        "max_initial_timestamp_index": 50,
    }
    settings_.update(overrides or {})
    results = model.model.generate(encoder_output, prompts, **settings_)
    outputs = []
    for result in results:
        tokens = result.sequences_ids[0]
        text = tokenizers[0].decode([t for t in tokens if t < tokenizers[0].eot])
        outputs.append(
            {
                "tokens": tokens,
                # CTranslate2's score is normalised by length; Whisper's average counts the
                # end-of-text token too.
                "avg_logprob": result.scores[0] * len(tokens) / (len(tokens) + 1),
                "no_speech_prob": result.no_speech_prob,
                "compression_ratio": _compression_ratio(text),
                "sampled": settings_.get("sampling_temperature", 0) > 0.5,
            }
        )
    return outputs


def _compression_ratio(text: str) -> float:
    from faster_whisper.transcribe import get_compression_ratio

    return get_compression_ratio(text) if text.strip() else 0.0


def is_silence(output: dict, options: DecodeOptions) -> bool:
    if (
        options.no_speech_threshold is None
        or output["no_speech_prob"] <= options.no_speech_threshold
    ):
        return False
    return options.log_prob_threshold is None or output["avg_logprob"] < options.log_prob_threshold


def needs_fallback(output: dict, options: DecodeOptions) -> bool:
    if is_silence(output, options):
        return False
    ratio, logprob = options.compression_ratio_threshold, options.log_prob_threshold
    return (ratio is not None and output["compression_ratio"] > ratio) or (
        logprob is not None and output["avg_logprob"] < logprob
    )


def retry(engine, features, tokenizer, previous, options, first: dict) -> dict:
    """A wider beam (if the first pass was narrower), then sampling at each of
    ``options.temperatures``, as Whisper does on a failed window."""
    encoder_output = engine.model.encode(features)
    attempts = [{"beam_size": 5}] if options.beam_size < 5 else []
    attempts += [
        {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0, "sampling_temperature": t}
        for t in options.temperatures
    ]
    best = first
    for attempt in attempts:
        output = generate(engine, encoder_output, [tokenizer], [previous], options, attempt)[0]
        if output["avg_logprob"] > best["avg_logprob"] and (
            options.compression_ratio_threshold is None
            or output["compression_ratio"] <= options.compression_ratio_threshold
            or best["compression_ratio"] > options.compression_ratio_threshold
        ):
            best = output
        if not needs_fallback(best, options):
            break
    return best
