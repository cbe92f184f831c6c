"""Whisper's decoder on a batch of encoded chunks, with its quality guards.

Greedy or beam search first; a chunk whose text loops (compression ratio) or is unsure (average
log-probability) is decoded again with a wider beam, then by sampling, as Whisper does; a chunk
Whisper itself judges silent is dropped by the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polymodal.speech.engine import DecodeOptions


def generate(
    engine, encoder_output, tokenizers, previous, options, durations, **overrides
) -> list[dict]:
    """Decode a batch; with beam search, prefer the best hypothesis that reads to the end.

    Beam search likes to stop early (an unfinished segment scores well once normalised by
    length); taking the best *complete* hypothesis among the beam's finalists avoids decoding
    the chunk's tail again in most cases.
    """
    from faster_whisper.transcribe import get_suppressed_tokens

    from polymodal.speech.tokens import unfinished_at

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
    settings_.update(overrides)
    if settings_["beam_size"] > 1:
        settings_.setdefault("num_hypotheses", settings_["beam_size"])
    results = model.model.generate(encoder_output, prompts, **settings_)
    outputs = []
    for result, tokenizer, duration in zip(results, tokenizers, durations, strict=True):
        ranked = sorted(range(len(result.sequences_ids)), key=lambda i: -result.scores[i])
        stops = [unfinished_at({"tokens": result.sequences_ids[i]}, tokenizer) for i in ranked]
        whole = [
            i for i, at in zip(ranked, stops, strict=True) if at is None or duration - at <= 0.5
        ]
        best = whole[0] if whole else ranked[0]
        tokens = result.sequences_ids[best]
        text = tokenizers[0].decode([t for t in tokens if t < tokenizers[0].eot])
        outputs.append(
            {
                "tokens": tokens,
                "avg_logprob": result.scores[best] * len(tokens) / (len(tokens) + 1),
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


def retry(engine, features, tokenizer, previous, options, first: dict, duration: float) -> dict:
    """Beam search, then sampling at rising temperature, as Whisper does on a failed window."""
    encoder_output = engine.model.encode(features)
    attempts = [{"beam_size": max(5, options.beam_size)}]
    attempts += [
        {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0, "sampling_temperature": t}
        for t in (0.4, 0.8)
    ]
    best = first
    for attempt in attempts:
        output = generate(
            engine, encoder_output, [tokenizer], [previous], options, [duration], **attempt
        )[0]
        if output["avg_logprob"] > best["avg_logprob"] and (
            options.compression_ratio_threshold is None
            or output["compression_ratio"] <= options.compression_ratio_threshold
            or best["compression_ratio"] > options.compression_ratio_threshold
        ):
            best = output
        if not needs_fallback(best, options):
            break
    return best
