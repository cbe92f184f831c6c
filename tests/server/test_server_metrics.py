"""``/metrics`` (Prometheus) and ``/readyz``: counts that move with requests, family queues read
live, batch sizes, resident models with memory and load time; readiness from the catalogue,
without loading anything; both behind the key when one is set, ``/healthz`` not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from _server_helpers import API_KEY
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import polymodal
from polymodal.server import ServerSettings, create_app
from polymodal.server.metrics import observe_batch


def _samples(client: TestClient, **headers: str) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples, metric: str, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def app_client(clip_settings) -> Iterator[TestClient]:
    """A fresh app of its own: its counters start at zero."""
    with TestClient(create_app(clip_settings)) as test_client:
        yield test_client


def test_requests_are_counted_by_route_template_and_status(app_client):
    check = "/v1/polymodal/check"
    before = _samples(app_client)
    for query in ("a dog", "two dogs"):
        assert app_client.post(check, json={"query": query}).status_code == 200
    assert app_client.post(check, json={"query": ""}).status_code == 400
    app_client.get("/no/such/route/1")
    app_client.get("/no/such/route/2")
    after = _samples(app_client)
    ok = {"route": check, "method": "POST", "status": "200"}
    assert (
        _value(after, "polymodal_requests_total", **ok)
        - _value(before, "polymodal_requests_total", **ok)
        == 2
    )
    assert _value(after, "polymodal_requests_total", route=check, method="POST", status="400") == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert _value(after, "polymodal_requests_total", **unmatched) == 2  # one series, not two
    latency = _value(after, "polymodal_request_seconds_count", route=check, method="POST")
    assert latency == 3
    assert _value(after, "polymodal_request_seconds_sum", route=check, method="POST") > 0


def test_family_queues_are_read_at_scrape_time(app_client):
    pool = app_client.app.state.polymodal.images
    for _ in range(3):
        pool.admit()
    try:
        samples = _samples(app_client)
        assert _value(samples, "polymodal_family_requests", family="image") == 3
        assert _value(samples, "polymodal_family_queued", family="image") == 3 - pool.limits.workers
        assert _value(samples, "polymodal_family_capacity", family="image") == pool.limits.capacity
    finally:
        for _ in range(3):
            pool.release()
    assert _value(_samples(app_client), "polymodal_family_requests", family="image") == 0


def test_batch_sizes_are_a_histogram_the_batcher_feeds(app_client):
    before = _samples(app_client)
    observe_batch("embedding", 5)
    observe_batch("embedding", 32)
    after = _samples(app_client)
    count = "polymodal_batch_size_count"
    assert _value(after, count, family="embedding") - _value(before, count, family="embedding") == 2
    small = {"family": "embedding", "le": "8.0"}
    bucket = "polymodal_batch_size_bucket"
    assert _value(after, bucket, **small) - _value(before, bucket, **small) == 1


def test_resident_models_show_their_memory_and_load_time(app_client):
    app_client.post("/v1/embeddings", json={"model": "clip", "input": "a red car"})
    samples = _samples(app_client)
    resident = polymodal.resident_models()
    assert _value(samples, "polymodal_resident_models") == len(resident) >= 1
    clip = next(r for r in resident if r.family == "clip")
    labels = {"name": clip.name, "family": "clip"}
    assert _value(samples, "polymodal_model_memory_mb", **labels) == pytest.approx(clip.memory_mb)
    assert _value(samples, "polymodal_model_load_seconds", **labels) == pytest.approx(
        clip.load_seconds
    )
    assert clip.load_seconds > 0


def test_ready_when_the_defaults_are_here_without_loading_them(clip_settings, tmp_path):
    from polymodal.vision.synthetic import save_random_clip

    fresh = save_random_clip(tmp_path / "fresh-clip", tiny=True, seed=3)
    with TestClient(create_app(replace(clip_settings, clip_model=str(fresh)))) as probe:
        body = probe.get("/readyz")
        assert body.status_code == 200, body.text
        assert body.json()["models"] == {"whisper": "whisper-tiny.en", "clip": str(fresh)}
    assert all(fresh.name not in r.name for r in polymodal.resident_models())


def test_not_ready_says_which_model_is_missing(server_home, tmp_path):
    settings = ServerSettings(whisper_model="whisper-large-v3", clip_model=str(tmp_path / "gone"))
    with TestClient(create_app(settings)) as probe:
        response = probe.get("/readyz")
    assert response.status_code == 503
    reasons = response.json()["reasons"]
    assert len(reasons) == 2
    assert "whisper-large-v3 is not on this machine" in reasons[0]
    assert "gone" in reasons[1]


def test_metrics_and_readyz_need_the_key_healthz_does_not(clip_settings):
    with TestClient(create_app(replace(clip_settings, api_key=API_KEY))) as keyed:
        assert keyed.get("/healthz").status_code == 200
        for path in ("/metrics", "/readyz"):
            assert keyed.get(path).status_code == 401
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        samples = _samples(keyed, **bearer)
        refused = {"route": "unmatched", "method": "GET", "status": "401"}
        assert _value(samples, "polymodal_requests_total", **refused) == 2  # 401s counted too
        assert keyed.get("/readyz", headers=bearer).status_code == 200


def test_the_batchers_batches_reach_the_histogram(app_client):
    count = "polymodal_batch_size_count"

    def batches(samples) -> float:
        return sum(v for (name, _), v in samples.items() if name == count)

    before = batches(_samples(app_client))
    body = {"model": "clip", "input": ["a red car", "a cat"]}
    assert app_client.post("/v1/embeddings", json=body).status_code == 200
    assert batches(_samples(app_client)) > before
