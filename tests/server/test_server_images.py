"""``/v1/images/generations`` and ``/edits`` through the official ``openai`` client against a
live server, on the tiny random Stable Diffusion pipeline of ``tests/diffusion`` (64x64, two
steps): PNGs of the asked size carrying their parameters, seeds that reproduce, inpainting
that keeps the opaque area's pixels, each bad request its status and ``param``, and a
generation stopped by a full queue, a client that hangs up, or the request timeout."""

from __future__ import annotations

import base64
import importlib.util
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from _server_helpers import API_KEY, serving
from PIL import Image

import polymodal
from polymodal.server import ServerSettings, create_app
from polymodal.server.settings import FamilyLimits

TESTS = Path(__file__).resolve().parents[1]
FAST = {"steps": 2, "seed": 5}
#: Enough steps that a generation outlives the timeouts below by far (about 6 s at 0.011 s a
#: step on one thread), so a stop is seen as steps never run.
LONG = 500


def _diffusion_fixtures():
    spec = importlib.util.spec_from_file_location(
        "_diffusion_fixtures", TESTS / "diffusion" / "tiny_pipelines.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(autouse=True, scope="module")
def _one_thread_fresh_models() -> Iterator[None]:
    """One torch thread for the tiny model (see ``tests/diffusion/conftest.py``) and no
    diffusion model left resident for other modules."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    polymodal.unload_models(family="diffusion")
    yield
    polymodal.unload_models(family="diffusion")
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory, server_home) -> Path:
    folder = tmp_path_factory.mktemp("server-sd") / "tiny-sd"
    _diffusion_fixtures().build_tiny_pipeline().save_pretrained(folder)
    return folder


def _settings(tiny_sd_dir: Path, **fields) -> ServerSettings:
    return ServerSettings(diffusion_model=str(tiny_sd_dir), api_key=API_KEY, **fields)


def _client(url: str, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, **options)


@pytest.fixture(scope="module")
def client(tiny_sd_dir) -> Iterator[openai.OpenAI]:
    with serving(create_app(_settings(tiny_sd_dir))) as url:
        yield _client(url)


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A 64x64 PNG with structure (gradients and a red square), the image edited."""
    y, x = np.mgrid[0:64, 0:64]
    array = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    array[20:44, 20:44] = (250, 30, 30)
    return _png(Image.fromarray(array))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _mask(size: tuple[int, int] = (64, 64)) -> bytes:
    """OpenAI's mask: opaque on the left half, fully transparent (repaint) on the right."""
    alpha = np.full((size[1], size[0]), 255, dtype=np.uint8)
    alpha[:, size[0] // 2 :] = 0
    rgba = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    return _png(Image.fromarray(rgba, "RGBA"))


def _decoded(datum) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(datum.b64_json)))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _parameters(datum, tmp_path: Path, name: str = "answer.png"):
    path = tmp_path / name
    path.write_bytes(base64.b64decode(datum.b64_json))
    return polymodal.read_parameters(path)


def test_generate_returns_n_pngs_of_the_asked_size_with_their_parameters(client, tmp_path):
    result = client.images.generate(
        model="dall-e-3",
        prompt="a red house",
        n=2,
        size="80x64",
        quality="hd",
        style="vivid",
        extra_body={**FAST, "negative_prompt": "blurry", "guidance_scale": 5.0},
    )
    assert isinstance(result, openai.types.ImagesResponse) and result.created > 0
    assert len(result.data) == 2 and result.size == "80x64" and result.output_format == "png"
    seeds = [datum.model_extra["seed"] for datum in result.data]
    assert seeds == [5, 6]
    for index, datum in enumerate(result.data):
        image = _decoded(datum)
        assert image.format == "PNG" and image.size == (80, 64) and datum.revised_prompt is None
        info = _parameters(datum, tmp_path, f"image-{index}.png")
        p = info.parameters
        assert info.source == "polymodal"
        assert (p.prompt, p.negative, p.seed, p.steps, p.guidance) == (
            "a red house",
            "blurry",
            seeds[index],
            2,
            5.0,
        )
        assert (p.width, p.height, p.model) == (80, 64, "tiny-sd")  # no server path shown
        assert "Seed: " in info.raw and "Size: 80x64" in info.raw  # A1111's own chunk
    assert not np.array_equal(_pixels(_decoded(result.data[0])), _pixels(_decoded(result.data[1])))


def test_the_same_seed_gives_the_same_pixels_and_auto_is_the_native_size(client):
    def made(seed: int, size: str | None = None) -> np.ndarray:
        extra = {"size": size} if size else {}
        result = client.images.generate(
            prompt="a cat", extra_body={"steps": 2, "seed": seed}, **extra
        )
        image = _decoded(result.data[0])
        assert image.size == (64, 64)  # the tiny model's native size
        return _pixels(image)

    first = made(9, "auto")
    assert np.array_equal(first, made(9))
    assert np.abs(first - made(10, "64x64")).mean() > 1


def test_an_edit_repaints_only_the_transparent_area(client, photo, tmp_path):
    result = client.images.edit(
        model="gpt-image-1",
        image=("photo.png", photo, "image/png"),
        mask=("mask.png", _mask(), "image/png"),
        prompt="a cat",
        extra_body=FAST,
    )
    edited = _pixels(_decoded(result.data[0]))
    original = _pixels(Image.open(io.BytesIO(photo)))
    assert edited.shape == original.shape
    assert np.array_equal(edited[:, :32], original[:, :32])  # opaque in the mask: kept exactly
    assert np.abs(edited[:, 32:] - original[:, 32:]).mean() > 5  # transparent: repainted
    p = _parameters(result.data[0], tmp_path).parameters
    assert (p.mode, p.strength, p.init, p.mask) == ("inpaint", 1.0, "photo.png", "mask.png")


def test_an_edit_without_a_mask_reworks_the_whole_image(client, photo, tmp_path):
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(jpeg, "JPEG", quality=95)
    image = ("photo.jpg", jpeg.getvalue(), "image/jpeg")
    result = client.images.edit(
        image=image, prompt="a blue house", extra_body={**FAST, "strength": 0.9}
    )
    edited = _pixels(_decoded(result.data[0]))
    assert np.abs(edited - _pixels(Image.open(jpeg))).mean() > 5
    p = _parameters(result.data[0], tmp_path).parameters
    assert (p.mode, p.strength, p.width, p.height) == ("img2img", 0.9, 64, 64)
    resized = client.images.edit(image=image, prompt="a cat", size="80x64", extra_body=FAST)
    assert _decoded(resized.data[0]).size == (80, 64)


def test_response_format_url_answers_a_data_url(client):
    result = client.images.generate(
        model="tiny-sd", prompt="a dog", response_format="url", extra_body=FAST
    )  # the configured model answers to its folder's name too
    url = result.data[0].url
    assert url.startswith("data:image/png;base64,") and result.data[0].b64_json is None
    image = Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))
    assert image.format == "PNG" and image.size == (64, 64)


def _generate_error(client, **fields) -> openai.APIStatusError:
    extra = fields.pop("extra_body", {})
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(prompt="a cat", extra_body={**FAST, **extra}, **fields)
    return caught.value


@pytest.mark.parametrize(
    ("fields", "status", "param", "words"),
    [
        ({"model": "stable-diffusion-9"}, 404, "model", "does not exist on this server"),
        ({"model": "sd-1.5"}, 503, None, "not available offline"),  # known, weights not here
        ({"size": "100x100"}, 400, "size", "not a multiple of 8"),
        ({"size": "large"}, 400, "size", "not WIDTHxHEIGHT"),
        ({"n": 11}, 400, "n", "'n'"),
        ({"output_format": "jpeg"}, 400, "output_format", "PNG images only"),
        ({"extra_body": {"scheduler": "Warp Drive"}}, 400, "scheduler", "Warp Drive"),
        ({"extra_body": {"guidance_scale": 99}}, 400, "guidance_scale", "Guidance"),
    ],
)
def test_bad_generations_get_their_status_and_param(client, fields, status, param, words):
    error = _generate_error(client, **fields)
    assert (error.status_code, error.body["param"]) == (status, param)
    assert words in error.body["message"]


def _edit_error(client, image: tuple, mask: tuple | None = None, **fields):
    extra = {"mask": mask} if mask else {}
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.edit(image=image, prompt="a cat", extra_body=FAST, **extra, **fields)
    return caught.value


def test_bad_edits_get_their_status_and_param(client, photo):
    image = ("photo.png", photo, "image/png")
    not_image = _edit_error(client, ("photo.png", b"plain text, not pixels " * 20, "image/png"))
    assert (not_image.status_code, not_image.body["param"]) == (415, "image")
    bad_mask = _edit_error(client, image, ("mask.png", b"not a mask " * 20, "image/png"))
    assert (bad_mask.status_code, bad_mask.body["param"]) == (415, "mask")
    small = _edit_error(client, image, ("mask.png", _mask((32, 32)), "image/png"))
    assert (small.status_code, small.body["param"]) == (400, "mask")
    assert "mask is 32x32 but the image is 64x64" in small.body["message"]
    opaque = _png(Image.new("RGB", (64, 64), "white"))
    no_alpha = _edit_error(client, image, ("mask.png", opaque, "image/png"))
    assert (no_alpha.status_code, no_alpha.body["param"]) == (400, "mask")
    assert "no alpha channel" in no_alpha.body["message"]
    two = _edit_error(client, [image, ("other.png", photo, "image/png")])
    assert (two.status_code, two.body["param"]) == (400, "image")
    assert "one image per request, not 2" in two.body["message"]
    unknown = _edit_error(client, image, model="dall-e-9")
    assert (unknown.status_code, unknown.body["param"]) == (404, "model")


def test_variations_say_what_to_use_instead(client, photo):
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.create_variation(image=("photo.png", photo, "image/png"))
    assert caught.value.status_code == 501
    assert "/v1/images/edits without a mask" in caught.value.body["message"]


class _Recorded:
    """The real ``generate`` with its steps and cancel token recorded, optionally held back
    until :attr:`release` is set: the server's own work, observed."""

    def __init__(self, hold: bool = False) -> None:
        self.real = polymodal.generate
        self.release = threading.Event()
        self.started = threading.Event()
        self.steps: list[float] = []
        self.cancel: polymodal.CancelToken | None = None
        if not hold:
            self.release.set()

    def __call__(self, prompt: str, **options):
        self.cancel, self.steps = options["cancel"], []  # the last call's
        self.started.set()
        assert self.release.wait(20)
        return self.real(prompt, progress=self._progress, **options)

    def _progress(self, report) -> None:
        if report.stage == "generate":
            self.steps.append(report.done)


def _until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


def test_a_full_generation_queue_answers_429(tiny_sd_dir, monkeypatch):
    recorded = _Recorded(hold=True)
    monkeypatch.setattr(polymodal, "generate", recorded)
    app = create_app(_settings(tiny_sd_dir, generation=FamilyLimits(workers=1, queue=0)))
    answers: list = []
    with serving(app) as url:
        client = _client(url)
        first = threading.Thread(
            target=lambda: answers.append(client.images.generate(prompt="a cat", extra_body=FAST))
        )
        first.start()
        assert recorded.started.wait(20)
        with pytest.raises(openai.RateLimitError) as caught:
            client.images.generate(prompt="a dog", extra_body=FAST)
        assert caught.value.response.headers["Retry-After"] == "2"
        recorded.release.set()
        first.join(20)
    assert len(answers) == 1 and _decoded(answers[0].data[0]).size == (64, 64)


def test_a_client_that_hangs_up_stops_its_generation(tiny_sd_dir, monkeypatch):
    recorded = _Recorded()
    monkeypatch.setattr(polymodal, "generate", recorded)
    app = create_app(_settings(tiny_sd_dir))
    with serving(app) as url:
        _client(url).images.generate(prompt="a cat", extra_body=FAST)  # the model loaded
        with pytest.raises(openai.APITimeoutError):
            _client(url, timeout=1.0).images.generate(
                prompt="a cat", extra_body={"steps": LONG, "seed": 1}
            )
        _until(lambda: app.state.polymodal.generation.admitted == 0)
    assert recorded.cancel is not None and recorded.cancel.cancelled
    assert recorded.steps and max(recorded.steps) < LONG  # stopped between steps


def test_past_the_request_timeout_a_generation_is_stopped_with_504(tiny_sd_dir, monkeypatch):
    recorded = _Recorded()
    monkeypatch.setattr(polymodal, "generate", recorded)
    app = create_app(_settings(tiny_sd_dir, request_timeout_s=1.0))
    with serving(app) as url:
        _client(url).images.generate(prompt="a cat", extra_body=FAST)  # the model loaded
        with pytest.raises(openai.InternalServerError) as caught:
            _client(url).images.generate(prompt="a cat", extra_body={"steps": LONG, "seed": 1})
        _until(lambda: app.state.polymodal.generation.admitted == 0)  # freed as the 504 left
    assert caught.value.status_code == 504 and caught.value.body["code"] == "timeout"
    assert "generation ran past the server's 1 s timeout" in caught.value.body["message"]
    assert recorded.steps and max(recorded.steps) < LONG


def _categories(path: Path, threshold: float) -> str:
    """One moderation category whose threshold decides the verdict (see tests/diffusion's
    test_screen.py): a threshold near 0 flags any image, near 1 passes it."""
    path.write_text(
        "replace_defaults = true\n"
        'neutral = ["a photo", "a blue house"]\n'
        "[categories.cats]\n"
        f"threshold = {threshold}\n"
        'prompts = ["a photo of a cat", "a red cat"]\n'
        'contrast = ["a photo of a dog"]\n'
    )
    return str(path)


@pytest.mark.parametrize(("threshold", "verdict"), [(1e-4, "flagged"), (0.9999, "passed")])
def test_screened_generations_are_answered_blurred_and_marked_never_dropped(
    tiny_sd_dir, clip_dir, tmp_path, threshold, verdict
):
    import httpx

    settings = _settings(
        tiny_sd_dir,
        clip_model=str(clip_dir),
        screen_generations=True,
        screen_categories=_categories(tmp_path / "screen.toml", threshold),
    )
    body = {"prompt": "a cat", "size": "64x64", **FAST}
    with serving(create_app(settings)) as url:
        answer = httpx.post(
            f"{url}/v1/images/generations",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=120,
        ).json()
    (item,) = answer["data"]
    assert item["screened"] == verdict
    assert item["screened_categories"] == (["cats"] if verdict == "flagged" else [])
    png = Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))
    assert ('Screened: "flagged: cats"' in png.text["parameters"]) == (verdict == "flagged")
