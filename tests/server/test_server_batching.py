"""Dynamic batching: concurrent requests share model calls, and each still gets its own answer.

The batcher itself is tested with a stand-in batch function (what gathers, in what order,
what fails); the server with the tiny CLIP and Whisper tiny.en on a live uvicorn, counting the
encoder's calls (made slow, so concurrent requests surely overlap) and comparing each answer
with the one the request gets alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import numpy as np
import pytest
from _server_helpers import serving
from test_server_embeddings import data_url, picture

import polymodal
from polymodal.errors import BadInputError
from polymodal.server import create_app
from polymodal.server.batching import Batcher

CONCURRENT = 8


# --- the batcher on its own -------------------------------------------------------------------


class _Recorder:
    """A batch function that records each call's items and holds the first call until let go,
    so everything submitted meanwhile gathers for the next batch."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release = threading.Event()

    def __call__(self, key, items):
        self.calls.append(list(items))
        if len(self.calls) == 1:
            assert self.release.wait(5)
        if any(item < 0 for item in items):
            raise BadInputError(f"{min(items)} is negative.", param="input")
        return [(i, (key, item * 10)) for i, item in enumerate(items)]


def _batcher(run, **options) -> Batcher:
    return Batcher("test", run, **({"max_size": 32, "max_wait_s": 0.05} | options))


def test_requests_that_arrive_while_the_model_is_busy_form_one_batch_in_order():
    run = _Recorder()
    batcher = _batcher(run)
    first = batcher.submit("k", 0)
    time.sleep(0.05)  # the lane has taken the first request alone: an idle model waits for none
    rest = [batcher.submit("k", n) for n in range(1, 6)]
    run.release.set()
    assert first.result(5) == ("k", 0)
    assert [f.result(5) for f in rest] == [("k", n * 10) for n in range(1, 6)]
    assert run.calls == [[0], [1, 2, 3, 4, 5]]
    batcher.shutdown()


def test_keys_never_share_a_batch_and_max_size_splits_a_crowd():
    run = _Recorder()
    batcher = _batcher(run, max_size=3)
    busy = batcher.submit("a", 0)
    time.sleep(0.05)
    futures = {(key, n): batcher.submit(key, n) for n in range(1, 5) for key in ("a", "b")}
    run.release.set()
    busy.result(5)
    assert all(f.result(5) == (key, n * 10) for (key, n), f in futures.items())
    assert sorted(run.calls[1:]) == [[1, 2, 3], [1, 2, 3], [4], [4]]
    batcher.shutdown()


def test_one_bad_input_fails_only_its_own_request():
    run = _Recorder()
    batcher = _batcher(run)
    busy = batcher.submit("k", 0)
    time.sleep(0.05)
    good, bad, other = batcher.submit("k", 1), batcher.submit("k", -1), batcher.submit("k", 2)
    run.release.set()
    busy.result(5)
    assert good.result(5) == ("k", 10) and other.result(5) == ("k", 20)
    with pytest.raises(BadInputError, match="-1 is negative"):
        bad.result(5)
    assert run.calls[1] == [1, -1, 2]  # tried together first, then each alone
    assert sorted(run.calls[2:]) == [[-1], [1], [2]]
    batcher.shutdown()


def test_a_request_cancelled_while_waiting_is_left_out_and_shutdown_drains():
    run = _Recorder()
    batcher = _batcher(run)
    busy = batcher.submit("k", 0)
    time.sleep(0.05)
    gone, kept = batcher.submit("k", 1), batcher.submit("k", 2)
    assert gone.cancel()
    run.release.set()
    batcher.shutdown()  # runs what waits, then stops
    assert busy.result(0) == ("k", 0) and kept.result(0) == ("k", 20)
    assert run.calls == [[0], [2]]
    with pytest.raises(polymodal.BusyError):
        batcher.submit("k", 3)


class _FakeTranscriber:
    """Records how many runs overlap and which paths each batched run got."""

    def __init__(self) -> None:
        self.engine = object()
        self.running = self.most = 0
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def _enter(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.1)
        with self.lock:
            self.running -= 1

    def transcribe(self, path, options, speakers=None, cancel=None):
        self._enter()
        return f"alone {path}"

    def transcribe_many(self, paths, options):
        self.batches.append(list(paths))
        self._enter()
        for index, path in enumerate(paths):
            yield index, f"{options} {path}"


def test_clips_batch_by_options_and_whisper_runs_one_at_a_time(server_settings):
    from polymodal.server.batching import Transcriptions

    shared = replace(server_settings, speech_batch_wait_ms=50.0, speech_batching=True)
    transcriptions = Transcriptions(shared)
    fake = _FakeTranscriber()
    jobs = [("a", "x"), ("b", "x"), ("c", "y"), ("d", "x"), ("e", "y")]
    with ThreadPoolExecutor(len(jobs) + 2) as pool:
        run = transcriptions.transcribe
        batched = [pool.submit(run, fake, p, o, duration=3.0) for p, o in jobs]
        diarized = [
            pool.submit(run, fake, p, "x", speakers=object(), duration=3.0) for p in ("f", "g")
        ]
        assert [f.result(10) for f in batched] == [f"{o} {p}" for p, o in jobs]
        assert [f.result(10) for f in diarized] == ["alone f", "alone g"]
    assert fake.most == 1  # one worker: batches and lone runs never decode at once
    for batch in fake.batches:
        assert len({dict(jobs)[path] for path in batch}) == 1  # one set of options per batch
    assert max(len(batch) for batch in fake.batches) > 1
    transcriptions.shutdown()


# --- embeddings through the server ------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder(clip_dir):
    """The tiny CLIP the server loads (the catalogue shares one instance)."""
    return polymodal.get_encoder(str(clip_dir))


@pytest.fixture
def slow_calls(encoder, monkeypatch) -> list[int]:
    """Make the text and image towers slow (so concurrent requests overlap) and record how
    many inputs each call got."""
    calls: list[int] = []

    def slowed(method):
        def call(inputs, *args):
            calls.append(len(inputs))
            time.sleep(0.15)
            return method(inputs, *args)

        return call

    monkeypatch.setattr(encoder, "encode_texts", slowed(encoder.encode_texts))
    monkeypatch.setattr(encoder, "encode_pixels", slowed(encoder.encode_pixels))
    return calls


def _live(settings, **changes) -> Iterator[str]:
    with serving(create_app(replace(settings, **changes))) as url:
        yield url


@pytest.fixture(scope="module")
def batched_url(clip_settings) -> Iterator[str]:
    yield from _live(clip_settings, embedding_batch_wait_ms=50.0)


@pytest.fixture(scope="module")
def unbatched_url(clip_settings) -> Iterator[str]:
    yield from _live(clip_settings, batching=False)


def _texts(n: int) -> list[str]:
    return [f"a photo of thing number {n}", f"thing {n} seen from far away"]


def _post_all(url: str, bodies: list[dict]) -> list[httpx.Response]:
    """Every body posted to ``/v1/embeddings`` at once, one thread each."""
    with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(len(bodies)) as pool:
        posts = [pool.submit(client.post, "/v1/embeddings", json=body) for body in bodies]
        return [post.result() for post in posts]


def _body(texts, **fields) -> dict:
    return {"model": "clip", "input": texts, "encoding_format": "float", **fields}


def _vectors(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array([d["embedding"] for d in response.json()["data"]], dtype=np.float32)


@pytest.fixture(scope="module")
def expected(encoder) -> dict[int, np.ndarray]:
    """Each request's vectors from the library, computed before the towers are slowed."""
    return {n: encoder.encode_texts(_texts(n)) for n in range(CONCURRENT)}


def test_concurrent_embedding_requests_share_encoder_calls(
    batched_url, encoder, expected, slow_calls
):
    responses = _post_all(batched_url, [_body(_texts(n)) for n in range(CONCURRENT)])
    for n, response in enumerate(responses):
        np.testing.assert_allclose(_vectors(response), expected[n], atol=1e-5)
        tokens = response.json()["usage"]["prompt_tokens"]
        assert tokens == int(encoder.tokenize(_texts(n))[1].sum())
    assert sum(slow_calls) == 2 * CONCURRENT  # every text encoded exactly once
    assert len(slow_calls) < CONCURRENT and max(slow_calls) >= 4


def test_with_batching_off_each_request_is_its_own_call(unbatched_url, expected, slow_calls):
    responses = _post_all(unbatched_url, [_body(_texts(n)) for n in range(CONCURRENT)])
    for n, response in enumerate(responses):
        np.testing.assert_allclose(_vectors(response), expected[n], atol=1e-5)
    assert slow_calls == [2] * CONCURRENT


def test_a_bad_request_in_a_batch_fails_alone(
    batched_url, encoder, expected, slow_calls, monkeypatch
):
    batched = encoder.encode_texts
    tried: list[int] = []

    def refuses_poison(texts):
        tried.append(len(texts))
        if "poison" in texts:
            raise BadInputError("The text 'poison' cannot be embedded.", param="input")
        return batched(texts)

    monkeypatch.setattr(encoder, "encode_texts", refuses_poison)
    bodies = [_body(_texts(n)) for n in range(6)]
    bodies[2] = _body(["poison"])
    bodies[4] = _body(_texts(4), dimensions=3)  # the model's are 24
    responses = _post_all(batched_url, bodies)
    for n in (0, 1, 3, 5):
        np.testing.assert_allclose(_vectors(responses[n]), expected[n], atol=1e-5)
    assert responses[2].status_code == 400 and "poison" in responses[2].json()["error"]["message"]
    assert responses[4].status_code == 400
    assert responses[4].json()["error"]["param"] == "dimensions"
    assert max(tried) > 1 + 2  # the poison was tried with others' texts, then set apart
    assert sum(slow_calls) == 2 * 5  # every good text encoded once it was


def test_concurrent_image_requests_share_an_image_call(batched_url, encoder, slow_calls):
    pictures = [picture(seed) for seed in range(4)]
    references = [encoder.encode_images([p]) for p in pictures]  # counted: 4 calls of 1
    del slow_calls[:]
    responses = _post_all(batched_url, [_body([data_url(p)]) for p in pictures])
    for response, reference in zip(responses, references, strict=True):
        np.testing.assert_allclose(_vectors(response), reference, atol=1e-5)
        assert response.json()["usage"]["prompt_tokens"] == 0
    assert sum(slow_calls) == 4 and len(slow_calls) < 4


def test_texts_and_images_read_the_same_with_batching_on_and_off(batched_url, unbatched_url):
    body = _body([data_url(picture(7)), "a photo of a cat", data_url(picture(8)), "a red car"])
    on, off = _post_all(batched_url, [body])[0], _post_all(unbatched_url, [body])[0]
    np.testing.assert_allclose(_vectors(on), _vectors(off), atol=1e-6)
    assert on.json()["usage"] == off.json()["usage"]


# --- transcriptions through the server --------------------------------------------------------

CLIPS = (
    "Please buy milk and eggs on the way home.",
    "The meeting moves to Thursday afternoon at three, in the small room on the second floor, "
    "and everyone should bring the reports they wrote last week.",
    "Remember to water the plants.",
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, speak_to) -> list:
    folder = tmp_path_factory.mktemp("batching-clips")
    return [speak_to(text, folder / f"clip{i}.wav") for i, text in enumerate(CLIPS)]


@pytest.fixture(scope="module")
def speech_url(server_settings) -> Iterator[str]:
    yield from _live(server_settings, speech_batch_wait_ms=300.0, speech_batching=True)


def _transcribe_all(url: str, paths) -> list[httpx.Response]:
    def post(path):
        with path.open("rb") as audio:
            files = {"file": ("clip.wav", audio.read())}
        return client.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files)

    with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(post, paths))


def test_concurrent_clips_share_decoder_batches_and_read_as_they_do_alone(
    speech_url, clips, monkeypatch
):
    alone = [_transcribe_all(speech_url, [clip])[0].json()["text"] for clip in clips]
    batches: list[int] = []
    many = polymodal.Transcriber.transcribe_many

    def recorded(self, sources, *args, **kwargs):
        batches.append(len(sources))
        time.sleep(0.3)  # slow enough that the other requests arrive meanwhile
        yield from many(self, sources, *args, **kwargs)

    monkeypatch.setattr(polymodal.Transcriber, "transcribe_many", recorded)
    together = _transcribe_all(speech_url, [*clips, *clips])
    assert all(r.status_code == 200 for r in together), [r.text for r in together]
    assert sum(batches) == 2 * len(clips) and max(batches) >= 3
    assert [r.json()["text"] for r in together] == alone + alone
    library = polymodal.Transcriber("whisper-tiny.en")
    assert alone == [library.transcribe(clip).text for clip in clips]
