"""``GET /v1/models``: every name a request may use, in OpenAI's records."""

from __future__ import annotations

import polymodal


def test_the_list_has_openais_aliases_and_the_catalogue(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    for alias in ("whisper-1", "gpt-4o-transcribe", "text-embedding-3-small", "clip"):
        assert alias in ids
    catalogue = {i.name: i for f in ("whisper", "clip") for i in polymodal.list_models(f)}
    assert set(catalogue) <= set(ids)
    for record in body["data"]:
        assert {"id", "object", "created", "owned_by"} <= set(record)
        assert record["object"] == "model" and isinstance(record["created"], int)
        if record["id"] in catalogue:
            assert record["available"] is catalogue[record["id"]].available
    # the voice encoder and the detector are not served
    assert "resemblyzer" not in ids and "detr-resnet-50" not in ids


def test_one_model_or_a_404(client):
    assert client.get("/v1/models/whisper-tiny.en").json()["family"] == "whisper"
    missing = client.get("/v1/models/gpt-5")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "model"
