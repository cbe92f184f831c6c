"""The tasks through the real path: a tiny random CLIP checkpoint loaded by the catalogue.

Random weights say nothing about which label is right, so these tests check what must hold
for any model: the task's numbers agree exactly with an independent computation from the same
weights (the encoder called directly, no pipeline or cache), a picture is closest to its own
copy, and every stage (decoding, cache, encoder, scoring, rendering) runs together.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from polymodal.media.image import load_image
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


def test_similarity_agrees_with_the_encoder_called_directly(model, photos):
    encoder = get_encoder(model)
    image = encoder.encode_images([load_image(photos["coffee"])])[0]  # PNG: no draft decoding
    text = encoder.encode_texts(["a photo of a cat"])[0]
    got = similarity(photos["coffee"], text="a photo of a cat", model=model)
    assert got == pytest.approx(float(image @ text), abs=1e-5)
    rocket = encoder.encode_images([load_image(photos["rocket"])])[0]
    pair = similarity(photos["coffee"], photos["rocket"], model=model)
    assert pair == pytest.approx(float(image @ rocket), abs=1e-5)
    assert similarity(photos["chelsea"], photos["chelsea"], model=model) == pytest.approx(
        1, abs=1e-5
    )


def test_an_image_is_closest_to_its_own_copy(model, photos, tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    others = [path for name, path in photos.items() if name != "chelsea"]
    for path in others:
        shutil.copyfile(path, pool / path.name)
    copy = pool / "chelsea-copy.png"  # the same pixels, another file and format
    load_image(photos["chelsea"]).save(copy)
    ranking = rank_similar(photos["chelsea"], [pool, photos["chelsea"]], model=model)
    assert len(ranking) == len(photos) and ranking.failures == ()  # the query itself left out
    assert ranking[0].path == str(copy)
    assert ranking[0].score > 0.99 and ranking[0].score > ranking[1].score


def test_moderation_follows_its_thresholds_on_real_files(model, photos):
    screened = moderate(list(photos.values()), model=model)
    assert [item.path for item in screened] == [str(p) for p in photos.values()]
    for item in screened:
        assert all(0.0 <= s.score <= 1.0 for s in item.scores)
        assert all(s.flagged == (s.score >= s.threshold) for s in item.scores)
        assert item.flagged_categories == tuple(s.category for s in item.scores if s.flagged)
        assert item.flagged == bool(item.flagged_categories)


def test_dedup_semantic_stage_with_a_real_encoder(model, photos, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copyfile(photos["rocket"], folder / "rocket.png")
    Image.open(photos["rocket"]).transpose(Image.Transpose.ROTATE_90).save(folder / "turned.jpg")
    shutil.copyfile(photos["coffee"], folder / "coffee.png")
    report = find_duplicates(folder, model=model, semantic_threshold=0.9999)
    assert report.model_id == get_encoder(model).model_id
    assert [sorted(f.match for f in g.files) for g in report.groups] == [["keeper", "near-exact"]]
    keeper, near = report.groups[0].files
    vectors = embed_images([keeper.path, near.path], model=model).vectors
    assert near.similarity == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-4)
