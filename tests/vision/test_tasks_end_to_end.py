"""The tasks through the real path: a tiny random CLIP checkpoint loaded by the catalogue.

Random weights say nothing about which label is right, so these tests check what must hold
for any model: the task's numbers follow from the encoder's own embeddings, and every stage
(decoding, cache, encoder, scoring, rendering) runs together.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from polymodal.vision import embed_images, embed_texts, get_encoder
from polymodal.vision.classify import classify
from polymodal.vision.dedup import find_duplicates
from polymodal.vision.moderate import moderate
from polymodal.vision.similarity import rank_similar, similarity

LABELS = ["cat", "dog", "car"]


@pytest.fixture
def model(tiny_clip_dir, polymodal_home) -> str:
    return str(tiny_clip_dir)


def test_classify_follows_from_the_encoders_embeddings(model, photos):
    paths = [photos["astronaut"], photos["coffee"]]
    result = classify(paths, LABELS, model=model, templates="ensemble7")
    images = embed_images(paths, model=model).vectors
    prompts = embed_texts([t.format(x) for x in LABELS for t in result.templates], model=model)
    labels = prompts.reshape(len(LABELS), len(result.templates), -1).mean(axis=1)
    labels /= np.linalg.norm(labels, axis=1, keepdims=True)
    scale = get_encoder(model).logit_scale
    for item, vector in zip(result.items, images, strict=True):
        sims = labels @ vector
        probs = np.exp(scale * sims - np.max(scale * sims))
        probs /= probs.sum()
        got = {s.label: s for s in item.scores}
        for index, label in enumerate(LABELS):
            assert got[label].similarity == pytest.approx(float(sims[index]), abs=1e-5)
            assert got[label].probability == pytest.approx(float(probs[index]), abs=1e-5)
    assert result.logit_scale == pytest.approx(scale)


def test_similarity_ranking_and_moderation_run_on_real_files(model, photos, tmp_path):
    assert similarity(photos["chelsea"], photos["chelsea"], model=model) == pytest.approx(
        1, abs=1e-5
    )
    text = similarity(photos["chelsea"], "a photo of a cat", model=model)
    assert -1.0 <= text <= 1.0
    ranking = rank_similar(photos["chelsea"], list(photos.values()), model=model)
    assert len(ranking) == len(photos) - 1 and ranking.failures == ()
    screened = moderate(list(photos.values()), model=model)
    assert len(screened) == len(photos)
    assert all(0.0 <= s.score <= 1.0 for item in screened for s in item.scores)


def test_dedup_semantic_stage_with_a_real_encoder(model, photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copyfile(photos["rocket"], folder / "rocket.png")
    Image.open(photos["rocket"]).transpose(Image.Transpose.ROTATE_90).save(folder / "turned.jpg")
    shutil.copyfile(photos["coffee"], folder / "coffee.png")
    report = find_duplicates(folder, model=model, semantic_threshold=0.9999)
    assert report.model_id == get_encoder(model).model_id
    assert [sorted(f.match for f in g.files) for g in report.groups] == [["keeper", "near-exact"]]
    near = report.groups[0].files[1]
    assert near.similarity is not None and -1.0 <= near.similarity <= 1.0
