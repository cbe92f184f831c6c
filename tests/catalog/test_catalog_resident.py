"""Resident models: one load per key shared by every caller, loads of different models in
parallel, least-recently-used eviction under ``POLYMODAL_MEMORY_MB``, and ``unload``."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from polymodal import catalog, render
from polymodal.catalog import locate


def names(records):
    return [record.name for record in records]


def test_a_resident_model_is_returned_without_resolving_again(fake, monkeypatch):
    """The resident lookup comes first: no second resolve, so no second disk scan."""
    resolves = []
    real_resolve = locate.resolve

    def counting(*args, **kwargs):
        resolves.append(args)
        return real_resolve(*args, **kwargs)

    monkeypatch.setattr(locate, "resolve", counting)
    directory = fake.model_dir("a")
    first = catalog.load(directory, "fake")
    assert catalog.load(str(directory), "fake") is first
    assert len(resolves) == 1 and fake.calls == ["a"]


def test_a_resident_hub_model_does_not_scan_the_hugging_face_cache(fake, monkeypatch):
    scans = []
    monkeypatch.setitem(
        catalog.CATALOG,
        "fake-hub",
        catalog.ModelSpec("fake-hub", "fake", "hf:owner/fake-hub", "a hub model", 1, 50),
    )

    def scan(spec):
        scans.append(spec.name)
        return fake.model_dir("fake-hub"), "Hugging Face cache"

    monkeypatch.setattr(locate, "locate", scan)
    first = catalog.load("fake-hub", "fake")
    assert catalog.load("owner/fake-hub", "fake") is first  # its HF id names the same model
    assert scans == ["fake-hub"]
    assert catalog.resident()[-1].source == "hf:owner/fake-hub"


def test_the_loaders_defaults_are_part_of_the_key(fake):
    directory = fake.model_dir("a")
    first = catalog.load(directory, "fake")
    assert catalog.load(directory, "fake", memory_mb=100.0) is first
    assert catalog.load(directory, "fake", memory_mb=50.0) is not first
    assert fake.calls == ["a", "a"]


def test_two_models_load_in_parallel(fake):
    """Each load waits at a barrier for the other: under one global lock it would time out."""
    fake.barrier = threading.Barrier(2, timeout=10)
    a, b = fake.model_dir("a"), fake.model_dir("b")
    with ThreadPoolExecutor(2) as pool:
        loads = [pool.submit(catalog.load, path, "fake") for path in (a, b)]
        models = [future.result(timeout=20) for future in loads]
    assert [m.path for m in models] == [a.resolve(), b.resolve()]


def test_callers_of_one_model_share_one_load(fake):
    fake.release = threading.Event()
    directory = fake.model_dir("a")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(catalog.load, directory, "fake")
        assert fake.started.wait(10)
        second = pool.submit(catalog.load, directory, "fake")
        threading.Timer(0.5, fake.release.set).start()  # the second caller is waiting by then
        assert first.result(timeout=20) is second.result(timeout=20)
    assert fake.calls == ["a"]


def test_a_failed_load_reaches_every_waiter_and_is_not_kept(fake):
    fake.release = threading.Event()
    fake.fail_next = True
    directory = fake.model_dir("a")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(catalog.load, directory, "fake")
        assert fake.started.wait(10)
        second = pool.submit(catalog.load, directory, "fake")
        threading.Timer(0.5, fake.release.set).start()
        for future in (first, second):
            with pytest.raises(RuntimeError, match="corrupt"):
                future.result(timeout=20)
    assert fake.calls == ["a"] and not [m for m in catalog.resident() if m.family == "fake"]
    assert catalog.load(directory, "fake").path == directory.resolve()
    assert fake.calls == ["a", "a"]


def test_the_least_recently_used_model_is_evicted_under_the_budget(fake, monkeypatch):
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "250")
    a, b, c = (fake.model_dir(n) for n in "abc")
    held = catalog.load(a, "fake")
    catalog.load(b, "fake")
    assert catalog.load(a, "fake") is held  # a is now the most recently used
    catalog.load(c, "fake")
    assert names(catalog.resident()) == ["a", "c"]
    assert [r.memory_mb for r in catalog.resident()] == [100.0, 100.0]
    assert {r.memory_from for r in catalog.resident()} == {"loader"}
    catalog.load(b, "fake")  # loads again, and a goes
    assert fake.calls == ["a", "b", "c", "b"]
    assert names(catalog.resident()) == ["c", "b"]
    assert held.path == a.resolve(), "an evicted model stays usable by whoever holds it"


def test_a_model_larger_than_the_budget_stays_alone_with_a_warning(fake, monkeypatch, caplog):
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "250")
    catalog.load(fake.model_dir("a"), "fake")
    catalog.load(fake.model_dir("b"), "fake")
    with caplog.at_level(logging.WARNING, logger="polymodal.catalog"):
        big = catalog.load(fake.model_dir("big"), "fake", memory_mb=400.0)
    assert names(catalog.resident()) == ["big"]
    assert "more than the whole memory budget of 250 MB" in caplog.text
    assert catalog.load(fake.model_dir("big"), "fake", memory_mb=400.0) is big


def test_the_catalogue_figure_makes_room_before_a_large_load(fake, monkeypatch):
    """A known large model evicts before it loads, so the two never sit in memory together."""
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "250")
    monkeypatch.setitem(
        catalog.CATALOG, "big", catalog.ModelSpec("big", "fake", "hf:o/big", "big", 1, 200)
    )
    monkeypatch.setattr(locate, "locate", lambda spec: (fake.model_dir("big"), "cache"))
    catalog.load(fake.model_dir("a"), "fake")
    seen = []
    real_load = fake.load

    def watching(resolved, **options):
        seen.append(names(catalog.resident()))
        return real_load(resolved, **options)

    monkeypatch.setitem(catalog.LOADERS, "fake", watching)
    catalog.load("big", "fake", memory_mb=0.0)  # no loader figure: the catalogue's 200 MB
    assert seen == [[]]
    assert names(catalog.resident()) == ["big"]


def test_unload_drops_what_it_is_asked_to_and_says_what(fake):
    a, b = fake.model_dir("a"), fake.model_dir("b")
    catalog.load(a, "fake")
    catalog.load(a, "fake", memory_mb=10.0)
    catalog.load(b, "fake")
    dropped = catalog.unload(a)
    assert names(dropped) == ["a", "a"]
    assert sorted(r.options["memory_mb"] for r in dropped) == [10.0, 100.0]
    assert names(catalog.resident()) == ["b"]
    assert catalog.unload(a) == ()
    assert names(catalog.unload(family="fake")) == ["b"]
    catalog.load(a, "fake")
    assert names(catalog.unload()) == ["a"] and catalog.resident() == ()
    assert fake.calls == ["a", "a", "b", "a"]


def test_resident_records_round_trip_through_render(fake):
    catalog.load(fake.model_dir("a"), "fake")
    (record,) = catalog.resident()
    assert record.family == "fake" and record.source == str(fake.model_dir("a").resolve())
    assert record.options == {"memory_mb": 100.0} and record.last_used > 0
    assert render.from_data(catalog.ResidentModel, render.to_data(record)) == record


def test_the_public_api_exposes_the_resident_cache(fake):
    import polymodal

    model = polymodal.load_model(fake.model_dir("a"), "fake")
    assert names(polymodal.resident_models()) == ["a"]
    assert polymodal.unload_models(family="fake")[0].name == "a"
    assert model.path.name == "a"


def test_a_bad_budget_fails_the_load_without_wedging_it(fake, monkeypatch):
    from polymodal.errors import BadInputError

    directory = fake.model_dir("a")
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "lots")
    with pytest.raises(BadInputError, match="POLYMODAL_MEMORY_MB"):
        catalog.load(directory, "fake")
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "500")
    assert catalog.load(directory, "fake").path == directory.resolve()


def test_what_a_model_makes_after_its_load_counts_against_the_budget(fake, monkeypatch):
    """A compiled copy of a model's weights, made on its first use, is budgeted with it."""
    monkeypatch.setenv("POLYMODAL_MEMORY_MB", "250")
    catalog.load(fake.model_dir("a"), "fake")
    grown = catalog.load(fake.model_dir("b"), "fake")
    catalog.grew(grown, 100.0)
    assert names(catalog.resident()) == ["b"], "the least recently used other stayed"
    assert [r.memory_mb for r in catalog.resident()] == [200.0]
    catalog.grew(object(), 100.0)  # not resident: nothing to count
    assert [r.memory_mb for r in catalog.resident()] == [200.0]
