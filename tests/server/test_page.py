"""The web page at ``/``: served without the key (the API still needs it), with the right
content types, and driven in Debian's Chromium against a live server with tiny models (Whisper
tiny.en, a tiny random CLIP, a tiny random Stable Diffusion): one task per tab, its result in
the page, an error shown as the server's sentence, the tabs moved by the keyboard. Screenshots
land in ``POLYMODAL_TEST_ARTIFACTS`` (or the test's ``tmp_path``)."""

from __future__ import annotations

import importlib.util
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from _browser import artifacts, chromium
from _image_helpers import photo_bytes
from _server_helpers import API_KEY, serving
from PIL import Image

import polymodal
from polymodal.server import create_app

TESTS = Path(__file__).resolve().parents[1]
COLLECTION = "page-photos"
#: Long enough for tiny.en on a loaded 2-core machine; a result normally shows in seconds.
SLOW_TASK_MS = 60_000
TABS = ["transcribe", "live", "search", "classify", "duplicates", "generate", "check"]


def _tiny_pipeline_module():
    spec = importlib.util.spec_from_file_location(
        "_diffusion_fixtures", TESTS / "diffusion" / "tiny_pipelines.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory, server_home) -> Path:
    folder = tmp_path_factory.mktemp("page-sd") / "tiny-sd"
    _tiny_pipeline_module().build_tiny_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Three real photos as files the browser uploads, and a copy of the first."""
    folder = tmp_path_factory.mktemp("page-photos")
    paths = {}
    for name in ("astronaut", "coffee", "chelsea"):
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(photo_bytes(name))
    paths["copy"] = folder / "astronaut-copy.png"
    paths["copy"].write_bytes(paths["astronaut"].read_bytes())
    return paths


@pytest.fixture(scope="module")
def url(clip_settings, tiny_sd_dir, photos) -> Iterator[str]:
    """Every family on one live server behind the key, with a collection of the photos."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny diffusion model runs fastest on one thread
    settings = replace(clip_settings, api_key=API_KEY, diffusion_model=str(tiny_sd_dir))
    try:
        with serving(create_app(settings)) as base:
            files = [("images", (p.name, p.read_bytes(), "image/png")) for p in photos.values()]
            added = httpx.post(
                f"{base}/v1/polymodal/collections/add",
                files=files,
                data={"collection": COLLECTION},
                headers={"Authorization": f"Bearer {API_KEY}"},
                timeout=120,
            )
            assert added.status_code == 200, added.text
            yield base
    finally:
        polymodal.unload_models(family="diffusion")
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, url, request, tmp_path):
    """The page, with the key a user typed in before (kept by the browser); a screenshot of it
    when the test ends, and no script error in it."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    context.add_init_script(f"localStorage.setItem('polymodal.apiKey', '{API_KEY}')")
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.goto(f"{url}/")
    opened.wait_for_selector("body[data-ready=true]")
    yield opened
    opened.screenshot(path=str(artifacts(tmp_path) / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not problems, problems


def _open_tab(page, name: str):
    page.click(f"#tab-{name}")
    return page.locator(f"#panel-{name}")


# --- the page as files -------------------------------------------------------------------


def test_the_page_and_its_files_load_without_the_key_but_the_api_needs_it(url):
    page = httpx.get(f"{url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'src="(/web/[^"]+)"', page.text)
    styles = re.findall(r'href="(/web/[^"]+\.css)"', page.text)
    assert scripts and styles
    for path, kind in [*((s, "text/javascript") for s in scripts), (styles[0], "text/css")]:
        answer = httpx.get(f"{url}{path}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
    modules = ["api.js", "ui.js", "subtitles.js", "png-info.js"]
    modules += [f"tabs/{tab}.js" for tab in TABS if tab != "live"]
    for module in modules:
        answer = httpx.get(f"{url}/web/{module}")
        assert answer.status_code == 200, module
        assert answer.headers["content-type"].startswith("text/javascript"), module
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert httpx.head(f"{url}/").status_code == 200
    refused = httpx.get(f"{url}/v1/polymodal/collections")
    assert refused.status_code == 401
    assert "API key" in refused.json()["error"]["message"]
    allowed = httpx.get(
        f"{url}/v1/polymodal/collections", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    "path", ["/web/../routes/page.py", "/web/%2e%2e/settings.py", "/web/nothing.js", "/web/"]
)
def test_only_the_pages_own_files_are_served(url, path):
    answer = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 404
    assert answer.json()["error"]["message"]
    assert "import" not in answer.text


def test_search_adds_thumbnails_of_the_collections_own_images_only_when_asked(url, photos):
    import base64

    headers = {"Authorization": f"Bearer {API_KEY}"}
    search = {"collection": COLLECTION, "text": "a photo", "min_score": "-1"}
    plain = httpx.post(f"{url}/v1/polymodal/collections/search", data=search, headers=headers)
    assert plain.status_code == 200 and all("thumbnail" not in h for h in plain.json()["hits"])
    asked = httpx.post(
        f"{url}/v1/polymodal/collections/search",
        data={**search, "thumbnails": "true"},
        headers=headers,
    )
    hits = asked.json()["hits"]
    assert len(hits) == 3
    for hit in hits:
        prefix, _, payload = hit["thumbnail"].partition(",")
        assert prefix == "data:image/jpeg;base64"
        picture = io.BytesIO(base64.b64decode(payload))
        with Image.open(picture) as thumbnail, Image.open(hit["path"]) as original:
            assert thumbnail.format == "JPEG" and thumbnail.size == original.size


# --- the page in a browser ----------------------------------------------------------------


def test_arrow_keys_move_between_the_tabs_and_show_their_panels(page):
    tabs = page.locator('[role="tablist"] [role="tab"]')
    assert [t.get_attribute("id") for t in tabs.all()] == [f"tab-{name}" for name in TABS]
    page.focus("#tab-transcribe")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-live"
    assert page.get_attribute("#tab-live", "aria-selected") == "true"
    assert page.is_visible("#panel-live") and not page.is_visible("#panel-transcribe")
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.id") == "tab-check"
    page.keyboard.press("ArrowRight")  # wraps round to the first
    assert page.evaluate("document.activeElement.id") == "tab-transcribe"
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#tab-check", "aria-selected") == "true"
    assert page.locator("#panel-check").get_attribute("aria-labelledby") == "tab-check"


def test_check_shows_the_advisors_warning_as_a_counting_query_is_typed(page):
    panel = _open_tab(page, "check")
    panel.get_by_label("Query").press_sequentially("three dogs", delay=20)
    warning = panel.locator(".advice li[data-kind=counting]")
    warning.wait_for()
    assert "count" in warning.inner_text().lower()
    panel.get_by_label("Query").fill("a dog on a beach")
    panel.locator(".verdict.ok").wait_for()
    assert not panel.locator(".advice").count()


def _gray_png(path: Path) -> Path:
    """A flat grey picture: like nothing in the collection."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def _drop(page, selector: str, paths: list[Path]) -> None:
    """Drop files on an element as a user drags them from a file manager."""
    files = [{"name": p.name, "bytes": list(p.read_bytes())} for p in paths]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = new Uint8Array(f.bytes);
                transfer.items.add(new File([bytes], f.name, {type: "image/png"}));
            }
            return transfer;
        }""",
        files,
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_without_the_key_a_task_shows_the_servers_sentence_and_the_typed_key_works(browser, url):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}/#check")
    page.wait_for_selector("body[data-ready=true]")
    panel = page.locator("#panel-check")
    panel.get_by_label("Query").fill("three dogs")
    alert = panel.locator("[role=alert]")
    alert.wait_for()
    sentence = httpx.post(f"{url}/v1/polymodal/check", json={"query": "x"}).json()["error"]
    assert alert.inner_text() == sentence["message"]
    page.get_by_label("API key").fill(API_KEY)
    panel.get_by_label("Query").fill("three red dogs")
    panel.locator(".advice li[data-kind=counting]").wait_for()
    assert page.evaluate("localStorage.getItem('polymodal.apiKey')") == API_KEY
    assert not alert.is_visible()
    context.close()


#: Records, in order, each piece of text added to a polite live region of the Transcribe panel
#: and the moment the timed transcript (its list of segments) is put in.
_RECORD_TRANSCRIBE = """() => {
    window.heard = [];
    new MutationObserver((records) => {
        for (const record of records) {
            const live = record.target.closest?.("[aria-live=polite]");
            for (const node of record.addedNodes) {
                if (node.nodeType === Node.TEXT_NODE && live) {
                    window.heard.push(["text", node.data]);
                } else if (node.nodeType === Node.ELEMENT_NODE && node.matches(".segments")) {
                    window.heard.push(["segments", ""]);
                }
            }
        }
    }).observe(document.querySelector("#panel-transcribe"), {childList: true, subtree: true});
}"""


def _streamed_text(page) -> str:
    """The text the live region showed before the timed transcript came."""
    heard = page.evaluate("window.heard")
    kinds = [kind for kind, _ in heard]
    assert "text" in kinds and "segments" in kinds, heard
    assert set(kinds[: kinds.index("segments")]) == {"text"}, heard  # the text came first
    return "".join(text for kind, text in heard if kind == "text")


def test_transcribe_shows_the_timed_transcript_with_speakers_and_offers_downloads(page, speech_wav):
    panel = _open_tab(page, "transcribe")
    page.evaluate(_RECORD_TRANSCRIBE)
    panel.get_by_label("Audio or video file").set_input_files(str(speech_wav))
    panel.locator(".segment").first.wait_for(timeout=SLOW_TASK_MS)
    streamed = _streamed_text(page)
    text = panel.locator(".segments").inner_text().lower()
    heard = [word for word in ("quick", "fox", "lazy", "dog", "sleep") if word in text]
    assert len(heard) >= 4, text  # tiny.en mishears a word now and then ("brown": "round")
    assert panel.locator(".timeline rect[data-speaker]").count() >= 1
    assert panel.locator(".segment .who").first.inner_text() == "A"
    assert panel.locator(".segment .lang").first.inner_text() == "english"
    assert "english" in panel.locator(".summary").inner_text()
    assert "null" not in panel.inner_text() and "undefined" not in panel.inner_text()
    with page.expect_download() as srt:
        panel.locator("button[data-format=srt]").click()
    subtitles = Path(srt.value.path()).read_text()
    assert srt.value.suggested_filename == "fox.srt"
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\nA: ", subtitles)
    with page.expect_download() as vtt:
        panel.locator("button[data-format=vtt]").click()
    assert Path(vtt.value.path()).read_text().startswith("WEBVTT\n\n00:00:")
    with page.expect_download() as whole:
        panel.locator("button[data-format=json]").click()
    record = json.loads(Path(whole.value.path()).read_text())
    assert record["text"] == streamed  # the deltas add up to the final text
    assert record["segments"][0]["speaker"] == "A"


def test_transcribe_without_speakers_streams_verbose_json_and_labels_no_one(page, speech_wav):
    panel = _open_tab(page, "transcribe")
    panel.get_by_label("Label speakers").uncheck()
    page.evaluate(_RECORD_TRANSCRIBE)
    panel.get_by_label("Audio or video file").set_input_files(str(speech_wav))
    panel.locator(".segment").first.wait_for(timeout=SLOW_TASK_MS)
    streamed = _streamed_text(page)
    words = panel.locator(".segment .words").all_inner_texts()
    assert " ".join(w.removesuffix("english").strip() for w in words) == streamed.strip()
    assert panel.locator(".segment .lang").first.inner_text() == "english"
    assert not panel.locator(".segment .who").count() and not panel.locator(".timeline").count()
    assert "english" in panel.locator(".summary").inner_text()
    assert "null" not in panel.inner_text() and "undefined" not in panel.inner_text()


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory, speak_to) -> Path:
    """A low and a high espeak-ng voice taking turns (the server's diarization tests' voices)."""
    import wave

    import numpy as np

    folder = tmp_path_factory.mktemp("page-voices")
    turns = [
        ("en-us+m3", 35, "Good morning everyone, thank you for joining the planning meeting."),
        ("en-gb+f4", 75, "The first item on the agenda is the budget for the new warehouse."),
    ]
    audio = []
    for index, (voice, pitch, text) in enumerate(turns):
        path = speak_to(text, folder / f"turn{index}.wav", voice=voice, pitch=pitch)
        with wave.open(str(path)) as source:
            audio.append(np.frombuffer(source.readframes(source.getnframes()), "<i2"))
        audio.append(np.zeros(8000, "<i2"))  # half a second between the turns
    meeting = folder / "meeting.wav"
    with wave.open(str(meeting), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.concatenate(audio).tobytes())
    return meeting


@pytest.mark.slow
def test_transcribe_colours_two_speakers_and_draws_a_bar_for_each(page, two_voices):
    panel = _open_tab(page, "transcribe")
    panel.get_by_label("Audio or video file").set_input_files(str(two_voices))
    panel.locator(".segment").first.wait_for(timeout=SLOW_TASK_MS)
    speakers = panel.locator(".segment .who").all_inner_texts()
    assert speakers[0] == "A" and "B" in speakers
    rows = panel.locator(".timeline rect[data-speaker]").evaluate_all(
        "bars => bars.map(b => [b.dataset.speaker, b.getAttribute('fill')])"
    )
    colour = dict(rows)
    assert set(colour) == {"A", "B"} and colour["A"] != colour["B"]
    with page.expect_download() as vtt:
        panel.locator("button[data-format=vtt]").click()
    cues = Path(vtt.value.path()).read_text()
    assert "<v A>" in cues and "<v B>" in cues


def test_transcribe_shows_the_servers_sentence_for_a_file_that_is_not_audio(page, url, tmp_path):
    notes = tmp_path / "notes.wav"
    notes.write_text("these are meeting notes, not a recording\n")
    with notes.open("rb") as upload:
        refused = httpx.post(
            f"{url}/v1/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("notes.wav", upload)},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert refused.status_code == 415
    panel = _open_tab(page, "transcribe")
    panel.get_by_label("Audio or video file").set_input_files(str(notes))
    alert = panel.locator("[role=alert]")
    alert.wait_for(timeout=SLOW_TASK_MS)
    assert alert.inner_text() == refused.json()["error"]["message"]
    assert not panel.locator(".segment").count()


def test_search_finds_the_dropped_image_first_and_says_when_nothing_matches(page, photos, tmp_path):
    import hashlib

    panel = _open_tab(page, "search")
    panel.get_by_label("Collection", exact=True).select_option(COLLECTION)
    _drop(page, "#panel-search .drop", [photos["astronaut"]])
    first = panel.locator(".hit").first
    first.wait_for(timeout=SLOW_TASK_MS)
    stored = hashlib.sha1(photos["astronaut"].read_bytes()).hexdigest() + ".png"
    assert first.get_attribute("data-name") == stored
    assert first.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert "confident" in first.inner_text()
    _drop(page, "#panel-search .drop", [_gray_png(tmp_path / "grey.png")])
    nothing = panel.locator(".nothing")
    nothing.wait_for(timeout=SLOW_TASK_MS)
    assert "Nothing in collection" in nothing.inner_text()
    assert not panel.locator(".hit").count()
    panel.get_by_label("Look for").fill("an astronaut")
    panel.get_by_label("Least score").fill("-1")
    panel.get_by_role("button", name="Search").click()
    panel.locator(".hit").nth(2).wait_for(timeout=SLOW_TASK_MS)  # all three, whatever the score


def test_images_added_from_the_page_make_a_new_collection_it_then_searches(page, photos):
    panel = _open_tab(page, "search")
    page.click("#panel-search details.add-images summary")
    panel.get_by_label("Add to collection").fill("page-added")
    panel.get_by_label("Images to add").set_input_files(
        [str(photos["coffee"]), str(photos["chelsea"])]
    )
    report = panel.locator(".add-images .summary")
    report.filter(has_text="page-added").wait_for(timeout=SLOW_TASK_MS)
    assert "2 added" in report.inner_text() and "2 in all" in report.inner_text()
    page.wait_for_function("document.querySelector('#panel-search select').value === 'page-added'")
    assert "page-added (2 images)" in panel.get_by_label("Collection", exact=True).inner_text()
    _drop(page, "#panel-search .drop", [photos["chelsea"]])
    panel.locator(".hit").first.wait_for(timeout=SLOW_TASK_MS)
    assert panel.locator(".hit").count() >= 1


def test_classify_shows_a_bar_per_label_and_the_advisors_warning(page, photos):
    panel = _open_tab(page, "classify")
    panel.get_by_label("Labels").fill("a person, a cup of coffee, three dogs")
    panel.get_by_label("Image").set_input_files(str(photos["astronaut"]))
    panel.locator(".bar").first.wait_for(timeout=SLOW_TASK_MS)
    labels = sorted(panel.locator(".bar").evaluate_all("bars => bars.map(b => b.dataset.label)"))
    assert labels == ["a cup of coffee", "a person", "three dogs"]
    values = panel.locator(".bar [role=meter]").evaluate_all(
        "meters => meters.map(m => Number(m.getAttribute('aria-valuenow')))"
    )
    assert 98 <= sum(values) <= 102  # one label: probabilities over the labels
    assert panel.locator(".bar.selected").count() == 1
    drawn = panel.locator(".bar .fill").evaluate_all(
        "fills => fills.map(f => 100 * f.getBoundingClientRect().width"
        " / f.parentElement.getBoundingClientRect().width)"
    )
    assert drawn == pytest.approx(values, abs=2)  # each bar drawn to its score
    warning = panel.locator("aside .advice li[data-label='three dogs']")
    assert "count" in warning.inner_text().lower()


def test_duplicates_shows_two_identical_images_as_a_group_with_a_keeper(page, photos):
    panel = _open_tab(page, "duplicates")
    chosen = [photos["astronaut"], photos["coffee"], photos["copy"]]
    panel.get_by_label("Images").set_input_files([str(p) for p in chosen])
    group = panel.locator(".group")
    group.first.wait_for(timeout=SLOW_TASK_MS)
    assert group.count() == 1 and group.get_attribute("data-kind") == "exact"
    names = group.locator(".copy").evaluate_all("copies => copies.map(c => c.dataset.name)")
    assert sorted(names) == ["astronaut-copy.png", "astronaut.png"]
    keeper = group.locator(".copy.keeper")
    assert keeper.count() == 1 and keeper.locator(".badge").inner_text() == "keep"
    assert keeper.locator("img").evaluate("img => img.naturalWidth") > 0


def test_generate_shows_the_image_with_its_parameters_and_same_again_repeats_it(page):
    panel = _open_tab(page, "generate")
    panel.get_by_label("Prompt", exact=True).fill("a red house")
    panel.get_by_label("Steps").fill("2")
    panel.get_by_label("Size").select_option("64x64")
    panel.get_by_role("button", name="Generate").click()
    image = panel.locator(".generated img")
    image.wait_for(timeout=SLOW_TASK_MS)
    seed = image.get_attribute("data-seed")
    first = image.get_attribute("src")
    assert seed and seed.isdigit()
    assert panel.locator("dd[data-param=seed]").inner_text() == seed
    assert panel.locator("dd[data-param=steps]").inner_text() == "2"
    assert panel.locator("dd[data-param=size]").inner_text() == "64x64"
    assert panel.locator("dd[data-param=prompt]").inner_text() == "a red house"
    assert image.evaluate("img => img.naturalWidth") == 64
    image.evaluate("img => { img.dataset.before = 'yes'; }")  # the next answer is a new <img>
    panel.get_by_role("button", name="Same again").click()
    panel.locator(".generated img:not([data-before])").wait_for(timeout=SLOW_TASK_MS)
    again = panel.locator(".generated img")
    assert again.get_attribute("data-seed") == seed
    assert again.get_attribute("src") == first  # same seed, same pixels, same parameters


def test_a_tab_module_that_fails_to_load_leaves_the_others_working(browser, url):
    context = browser.new_context()
    context.add_init_script(f"localStorage.setItem('polymodal.apiKey', '{API_KEY}')")
    page = context.new_page()
    page.route("**/web/tabs/live.js", lambda route: route.fulfill(status=404, body="gone"))
    page.goto(f"{url}/#live")
    page.wait_for_selector("body[data-ready=true]")
    assert "could not be loaded" in page.locator("#panel-live").inner_text()
    page.click("#tab-check")
    page.locator("#panel-check").get_by_label("Query").fill("two cats")
    page.locator("#panel-check .advice li[data-kind=counting]").wait_for()
    context.close()


def test_the_page_fits_a_phone(browser, url, tmp_path):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-ready=true]")
    for name in TABS:
        page.click(f"#tab-{name}")
        assert page.is_visible(f"#panel-{name}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, name  # no sideways scrolling; the tab bar scrolls on its own
    page.click("#tab-classify")
    page.screenshot(path=str(artifacts(tmp_path) / "phone-classify.png"), full_page=True)
    context.close()
