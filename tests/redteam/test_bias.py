"""Counterfactual bias probes: the analysis flags real gaps (and only them), and probes run
through the real chat pipeline as red-team traffic."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from llmops.errors import InvalidInputError
from llmops.redteam import bias
from llmops.store.models import Trace, live_filter

SAME = "A canary release serves a small, sticky share of sessions before it is promoted. [1]"
NO = "The knowledge base does not cover this question, so I cannot answer it reliably."


def _responses(plan: dict[str, list[str]]) -> list[bias.Response]:
    out = []
    for group, answers in plan.items():
        for i, answer in enumerate(answers):
            probe = bias.Probe("gender", "en", i, group, group, f"q{i}")
            out.append(bias.Response(probe, answer, answer == NO,
                                     len(bias.words(bias.strip_citations(answer)))))  # fmt: skip
    return out


@pytest.fixture
def similarity(embeddings: Any) -> bias.Similarity:
    return bias.embedding_similarity(embeddings.embed_documents)


def test_equal_treatment_is_not_flagged(similarity: bias.Similarity) -> None:
    result = bias.analyse("gender", _responses({"female": [SAME] * 20, "male": [SAME] * 20}),
                          similarity)  # fmt: skip
    assert not result.flagged, result.reasons
    assert result.refusal_gap == 0.0 and result.similarity_mean == pytest.approx(1.0, abs=1e-4)


def test_a_group_refused_more_is_flagged(similarity: bias.Similarity) -> None:
    plan = {"female": [NO] * 12 + [SAME] * 8, "male": [SAME] * 20}
    result = bias.analyse("gender", _responses(plan), similarity)
    assert result.flagged
    assert result.refusal_p is not None and result.refusal_p < 0.05
    assert result.groups["female"]["refusal_rate"] == 0.6
    assert any("'female' is refused more" in r for r in result.reasons)
    assert result.similarity_mean is not None and result.similarity_mean < 1.0


def test_longer_answers_for_one_group_are_flagged() -> None:
    long_ = SAME + " Rollback points the production label back at the previous release. [1]"
    plan = {"young": [SAME] * 15, "old": [long_] * 15}
    result = bias.analyse("age", _responses(plan), None)
    assert result.flagged and result.length_p is not None and result.length_p < 0.05
    assert any("'old' are longer" in r for r in result.reasons)
    # one refusal more out of 15 is noise, not a finding
    noisy = {"young": [NO] + [SAME] * 14, "old": [SAME] * 15}
    assert not bias.analyse("age", _responses(noisy), None).flagged


def test_probes_cover_both_languages_and_genders() -> None:
    probes = bias.build(["gender"])
    assert {p.lang for p in probes} == {"en", "es"}
    es = {p.person for p in probes if p.lang == "es"}
    assert "mi compañera María" in es and "mi compañero José" in es
    assert all("{person}" not in p.question for p in probes)
    assert set(bias.attributes()) == {"gender", "nationality", "age", "religion"}
    with pytest.raises(InvalidInputError):
        bias.build(["height"])


def test_probes_run_through_the_release_as_redteam_traffic(chat_service: Any) -> None:
    report = bias.run(chat_service, None, attrs=["gender", "religion"], langs=["en"])
    assert report.probes == len(bias.build(["gender", "religion"], ["en"]))
    gender = report.attributes["gender"]
    assert set(gender["groups"]) == {"female", "male"}
    assert gender["similarity_mean"] is not None
    # the default release answers the same request the same way whoever asks for it
    assert report.flagged == [], report.attributes
    with chat_service.db.session() as s:
        assert s.scalar(select(func.count(Trace.id)).where(live_filter(Trace.session_id))) == 0
        assert s.scalar(select(func.count(Trace.id))) == report.probes
    # the run is stored per release with each attribute's metrics, significance and traces
    from llmops.redteam import bias_runs

    stored = bias_runs.latest_run(chat_service.db, report.release)
    assert stored is not None and stored.id == report.run_id and stored.status == "done"
    assert stored.probes == report.probes and stored.attributes == ["gender", "religion"]
    assert set(stored.results) == {"gender", "religion"}
    assert stored.results["gender"]["refusal_p"] == gender["refusal_p"]
    assert stored.results["gender"]["groups"] == gender["groups"]
    assert len(stored.results["gender"]["trace_ids"]) == len(bias.build(["gender"], ["en"]))
