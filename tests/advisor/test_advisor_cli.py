"""The advisor's commands through Typer's runner: JSON shapes, exit codes, drawing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from polymodal.cli import _register, app

_register()
runner = CliRunner()


def test_check_json_and_exit_zero_when_limited():
    result = runner.invoke(app, ["check", "how many dogs are not on the sofa", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert {v["kind"] for v in data["verdicts"]} == {"counting", "negation"}
    assert all(v["alternative"] for v in data["verdicts"])
    assert data["query"] == "how many dogs are not on the sofa"


def test_check_table_for_ok_and_limited():
    assert "ok" in runner.invoke(app, ["check", "a sunset"]).stdout
    limited = runner.invoke(app, ["check", "read the sign"])
    assert limited.exit_code == 0 and "text_reading" in limited.stdout


def test_count_json_and_draw(tiny_detr_dir, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from PIL import Image
    from transformers.models.detr.modeling_detr import DetrObjectDetectionOutput

    from polymodal import catalog

    detector = catalog.load(tiny_detr_dir, "detector")
    logits = torch.zeros(1, 2, 7)
    logits[0, 0, 2] = logits[0, 1, 2] = 12.0  # two cars
    boxes = torch.tensor([[[0.25, 0.5, 0.2, 0.2], [0.75, 0.5, 0.2, 0.2]]])
    monkeypatch.setattr(
        detector.model,
        "forward",
        lambda *a, **k: DetrObjectDetectionOutput(logits=logits, pred_boxes=boxes),
    )
    image, out = tmp_path / "cars.png", tmp_path / "drawn.png"
    Image.new("RGB", (64, 64), "white").save(image)
    args = ["count", str(image), "cars", "--model", str(tiny_detr_dir), "--draw", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["count"], data["label"], data["drawn"]) == (2, "car", str(out))
    assert data["boxes"] == [[9.6, 25.6, 22.4, 38.4], [41.6, 25.6, 54.4, 38.4]]
    assert out.exists()
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "2 car" in table.stdout


def test_count_unknown_noun_exits_2(tiny_detr_dir, tmp_path):
    from PIL import Image

    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(image)
    result = runner.invoke(app, ["count", str(image), "unicorns", "--model", str(tiny_detr_dir)])
    assert result.exit_code == 2
    assert "no label for 'unicorns'" in result.stderr


def test_diagnose_json(monkeypatch):
    from types import SimpleNamespace

    from polymodal.vision import embed

    class Embedded:
        vectors = np.array([[1.0, 0.0]], dtype=np.float32)
        failures = ()

    def embed_texts(texts, model=None):
        return np.array([[0.3, 0.95] if t == "a cat" else [0.1, 0.99] for t in texts])

    encoder = SimpleNamespace(model_id="stand-in", logit_scale=100.0)
    monkeypatch.setattr(embed, "get_encoder", lambda model=None, int8=None: encoder)
    monkeypatch.setattr(embed, "embed_images", lambda paths, model=None: Embedded())
    monkeypatch.setattr(embed, "embed_texts", embed_texts)
    result = runner.invoke(app, ["diagnose", "img.jpg", "a cat", "--competitors", "lynx", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["score"] == pytest.approx(0.3) and data["competitor_rank"] == 1
    text = runner.invoke(app, ["diagnose", "img.jpg", "a cat"])
    assert text.exit_code == 0 and "cosine" in text.stdout
