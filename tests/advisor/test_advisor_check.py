"""check_query's contract: verdict shape, tricky negatives, several verdicts, cache, fallback."""

from __future__ import annotations

import dataclasses

import pytest

from polymodal.advisor import check, linguistic
from polymodal.advisor.check import QueryCheck, Verdict, check_queries, check_query, counting_target

MODES = ["1", "0"]


@pytest.fixture(params=MODES, ids=["spacy", "rules"])
def mode(request, monkeypatch):
    monkeypatch.setenv("POLYMODAL_ADVISOR_SPACY", request.param)
    check.clear_cache()
    yield request.param
    check.clear_cache()


@pytest.mark.parametrize(
    "query",
    [
        "Left Bank Paris",
        "a notebook",
        "knotted rope",
        "a dog with a leash",
        "two-tone shoes",
        "the Eiffel Tower",
        "a 4K television",
        "a building under construction",
        "a bowl of noodles",
    ],
)
def test_tricky_negatives_stay_ok(query, mode):
    result = check_query(query)
    assert result.ok and result.kinds == ("ok",), result.verdicts


@pytest.mark.parametrize(
    ("query", "kinds"),
    [
        ("a dog without a leash", {"negation"}),
        ("the man on the left", {"spatial"}),
        ("how many dogs are there", {"counting"}),
        ("a Boeing 747 on the runway", {"fine_grained"}),
        ("a red car and a blue truck", {"attribute_binding"}),
        ("what does the sign say", {"text_reading"}),
        ("three red cars left of a truck", {"counting", "spatial"}),
        ("a red cube on top of a blue sphere", {"attribute_binding", "spatial"}),
    ],
)
def test_limits_are_named(query, kinds, mode):
    result = check_query(query)
    assert set(result.kinds) == kinds
    assert not result.ok
    for verdict in result.verdicts:
        assert verdict.reason and verdict.alternative and verdict.evidence


def test_alternatives_name_concrete_tools():
    alternatives = {
        v.kind: v.alternative
        for q in ["how many cats", "a Siamese cat", "read the sign", "no cars"]
        for v in check_query(q).verdicts
    }
    assert "polymodal count IMAGE 'cat'" in alternatives["counting"]
    assert (
        "classifier" in alternatives["fine_grained"]
        and "'a photo of a cat'" in alternatives["fine_grained"]
    )
    assert "OCR" in alternatives["text_reading"]
    assert "'cars'" in alternatives["negation"]


def test_result_is_frozen_and_cached():
    first = check_query("a cat under the table")
    assert isinstance(first, QueryCheck) and isinstance(first.verdicts[0], Verdict)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.query = "x"  # type: ignore[misc]
    assert check_query("a cat  under the table") is first  # whitespace-normalised cache hit


def test_batch_matches_single_checks(mode):
    queries = ["a dog", "two dogs", "a dog", "a cat that is not black"]
    batch = check_queries(queries)
    assert [r.kinds for r in batch] == [check_query(q).kinds for q in queries]


@pytest.mark.parametrize(
    ("query", "target"),
    [
        ("how many dogs are there", "dog"),
        ("count the people in the room", "person"),
        ("three red cars left of a truck", "car"),
        ("the number of traffic lights", "traffic light"),
        ("a dog", None),
    ],
)
def test_counting_target(query, target, mode):
    assert counting_target(query) == target


def test_setting_off_never_loads_spacy(monkeypatch):
    monkeypatch.setenv("POLYMODAL_ADVISOR_SPACY", "0")
    check.clear_cache()

    def forbidden():
        raise AssertionError("spaCy must not load when POLYMODAL_ADVISOR_SPACY=0")

    monkeypatch.setattr(linguistic, "load_spacy", forbidden)
    assert check_query("two dogs behind a fence").kinds == ("counting", "spatial")
    check.clear_cache()


def test_plain_labels_skip_the_parser(monkeypatch):
    monkeypatch.setenv("POLYMODAL_ADVISOR_SPACY", "1")
    check.clear_cache()
    calls = []
    real = linguistic.analyse_many
    monkeypatch.setattr(
        check, "analyse_many", lambda t, use_spacy: calls.append(t) or real(t, use_spacy)
    )
    assert check_query("a photo of a dog").ok
    assert not calls
    check_query("two dogs")
    assert calls == [["two dogs"]]
    check.clear_cache()


def test_missing_spacy_falls_back_to_rules(monkeypatch):
    monkeypatch.setenv("POLYMODAL_ADVISOR_SPACY", "1")
    monkeypatch.setattr(linguistic, "_nlp", None)
    monkeypatch.setattr(linguistic, "_nlp_failed", True)
    check.clear_cache()
    assert set(check_query("a red car and a blue truck").kinds) == {"attribute_binding"}
    check.clear_cache()


def test_rejects_non_strings():
    with pytest.raises(TypeError):
        check_query(3)  # type: ignore[arg-type]
