"""Datasets: versioning, import/export with per-line errors, cases from traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from llmops.errors import InvalidInputError, NotFoundError
from llmops.evals import datasets as ds
from llmops.evals import mining
from llmops.store.db import Database
from llmops.store.models import AuditLog, DatasetItem, Feedback, GuardEvent, Trace
from llmops.tracing.ids import new_trace_id

GOOD = [
    {"input": "What is a canary release?", "must_include": ["small share"], "tags": ["deploy"]},
    {"input": "¿Qué es LLMOps?", "expected": "LLMOps es la práctica…", "lang": "es"},
    {"input": "Return JSON", "metadata": {"regex": "^\\{", "note": "x"}},
]


def _jsonl(records: list[object]) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"


def _trace(db: Database, text: str, output: str = "an answer", **kwargs: object) -> str:
    tid = new_trace_id()
    with db.session() as s:
        s.add(
            Trace(
                id=tid,
                started_at=datetime.now(UTC) - timedelta(minutes=1),
                input=text,
                output=output,
                **kwargs,
            )
        )
    return tid


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(DatasetItem)) or 0)


def test_jsonl_import_validates_detects_language_and_keeps_fields() -> None:
    cases = ds.parse_jsonl(_jsonl(GOOD) + "\n\n", "good.jsonl")
    assert [c.input for c in cases] == [g["input"] for g in GOOD]
    assert cases[0].lang == "en" and cases[1].lang == "es"
    assert cases[0].must_include == ["small share"] and cases[0].tags == ["deploy"]
    assert cases[2].metadata == {"regex": "^\\{", "note": "x"}


def test_bad_lines_give_per_line_errors() -> None:
    text = (
        _jsonl(GOOD[:1])
        + "{not json\n"
        + json.dumps({"expected": "no input"})
        + "\n"
        + json.dumps({"input": "x", "must_inlcude": ["typo"]})
        + "\n"
        + json.dumps({"input": "x", "must_include": "not a list"})
        + "\n"
        + json.dumps({"input": "x", "metadata": {"regex": "(unclosed"}})
        + "\n"
        + json.dumps(["a list"])
        + "\n"
    )
    with pytest.raises(ds.InvalidFileError) as err:
        ds.parse_jsonl(text, "bad.jsonl")
    lines = [n for n, _ in err.value.errors]
    assert lines == [2, 3, 4, 5, 6, 7]
    messages = dict(err.value.errors)
    assert "not valid JSON" in messages[2]
    assert "'input' is required" in messages[3]
    assert "must_inlcude" in messages[4] and "allowed" in messages[4]
    assert "list of strings" in messages[5]
    assert "regular expression" in messages[6]
    assert "JSON object" in messages[7]
    assert str(err.value).startswith("bad.jsonl: 6 invalid line(s), nothing imported")
    assert "\n" not in str(err.value)


def test_not_utf8_and_empty_files_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        ds.parse_jsonl(b'{"input": "caf\xe9"}\n', "latin1.jsonl")
    with pytest.raises(InvalidInputError, match="no cases"):
        ds.parse_jsonl("\n  \n", "empty.jsonl")
    with pytest.raises(InvalidInputError, match=r"\.jsonl or \.csv"):
        ds.format_for(Path("cases.xlsx"))


def test_csv_import_with_lists_and_json_cells() -> None:
    text = (
        "input,expected,must_include,lang,tags,metadata\n"
        'What is p95?,,"95th|percentile",en,latency,\n'
        '"¿Qué es, en breve, LLMOps?",Una práctica,"[""práctica""]",,,"{""k"": 1}"\n'
    )
    cases = ds.parse_csv(text.encode("utf-8-sig"), "cases.csv")
    assert cases[0].must_include == ["95th", "percentile"] and cases[0].tags == ["latency"]
    assert cases[0].expected is None
    assert cases[1].input == "¿Qué es, en breve, LLMOps?" and cases[1].lang == "es"
    assert cases[1].must_include == ["práctica"] and cases[1].metadata == {"k": 1}
    with pytest.raises(ds.InvalidFileError) as err:
        ds.parse_csv('input,metadata\nok,\nbad,"{oops"\n,\n', "bad.csv")
    assert err.value.errors[0][0] == 3 and "JSON" in err.value.errors[0][1]
    with pytest.raises(ds.InvalidFileError, match="'input' column"):
        ds.parse_csv("question,answer\nx,y\n", "noinput.csv")


def test_versions_edits_and_removals_never_rewrite_rows(db: Database) -> None:
    cases = ds.parse_jsonl(_jsonl(GOOD))
    info = ds.add_cases(db, "smoke", cases, actor="ana")
    assert (info.version, info.items) == (1, 3)
    first, *_ = ds.list_items(db, "smoke")[0]

    edited = first.case()
    edited.must_include = ["small share", "sticky"]
    new = ds.update_item(db, "smoke", first.id, edited, actor="ana")
    assert new.id != first.id and new.added_in == 2
    assert ds.update_item(db, "smoke", new.id, new.case(), actor="ana").id == new.id  # no-op

    assert ds.remove_items(db, "smoke", [new.id], actor="ana") == 1
    info = ds.get_dataset(db, "smoke")
    assert (info.version, info.items) == (3, 2)
    # every version can be read back
    v1, n1 = ds.list_items(db, "smoke", version=1)
    v2, _ = ds.list_items(db, "smoke", version=2)
    assert n1 == 3 and v1[0].must_include == ["small share"]
    assert [i.id for i in v2][-1] == new.id and v2[-1].must_include == ["small share", "sticky"]
    assert ds.list_items(db, "smoke", version=0)[1] == 0
    with pytest.raises(InvalidInputError, match="versions 0 to 3"):
        ds.list_items(db, "smoke", version=9)
    with pytest.raises(NotFoundError):
        ds.update_item(db, "smoke", first.id, edited)  # retired rows cannot be edited
    with pytest.raises(NotFoundError):
        ds.remove_items(db, "smoke", [new.id, 10_000])
    assert _count(db) == 4  # three imported + one edit; nothing deleted
    with db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert [a for a in actions if a.startswith("dataset.")] == [
        "dataset.create",
        "dataset.add",
        "dataset.edit",
        "dataset.remove",
    ]


def test_search_and_paging(db: Database) -> None:
    cases = [ds.Case(input=f"question {i} 100%_done", lang="en") for i in range(30)]
    ds.add_cases(db, "paged", cases)
    page, total = ds.list_items(db, "paged", limit=10, offset=20)
    assert total == 30 and page[0].input == "question 20 100%_done"
    hits, n = ds.list_items(db, "paged", text="100%_")
    assert n == 30 and hits
    assert ds.list_items(db, "paged", text="question 7 ")[1] == 1
    assert ds.list_items(db, "paged", text="%")[1] == 30


def test_export_round_trips_in_both_formats(db: Database) -> None:
    ds.add_cases(db, "rt", ds.parse_jsonl(_jsonl(GOOD)))
    for fmt in ("jsonl", "csv"):
        text = ds.export_cases(db, "rt", fmt=fmt)
        again = ds.parse_cases(text, fmt, f"export.{fmt}")
        assert [c.key() for c in again] == [i.case().key() for i in ds.list_items(db, "rt")[0]]


def test_sync_from_file_keeps_unchanged_ids_and_protects_curated_sets(db: Database) -> None:
    cases = ds.parse_jsonl(_jsonl(GOOD))
    info, changed = ds.sync_from_file(db, "ci", cases, source="file:ci.jsonl")
    assert changed and info.version == 1 and info.items == 3
    ids = [i.id for i in ds.list_items(db, "ci")[0]]
    info, changed = ds.sync_from_file(db, "ci", cases, source="file:ci.jsonl")
    assert not changed and info.version == 1
    info, changed = ds.sync_from_file(db, "ci", cases[:2], source="file:ci.jsonl")
    assert changed and info.version == 2 and info.items == 2
    assert [i.id for i in ds.list_items(db, "ci")[0]] == ids[:2]
    ds.add_cases(db, "curated", cases)
    with pytest.raises(InvalidInputError, match="does not come from"):
        ds.sync_from_file(db, "curated", cases, source="file:curated.jsonl")


def test_add_from_traces_copies_input_comment_and_bumps_once(db: Database) -> None:
    t1 = _trace(db, "How do I roll back? My mail is <EMAIL>", release_id="rel_x")
    t2 = _trace(db, "¿Qué es un canary?")
    with db.session() as s:
        s.add(Feedback(trace_id=t1, score=0.0, comment="It did not mention labels"))
    n = mining.add_from_traces(
        db, "from-feedback", [t1, t2.upper(), t1], actor="ana", expected={t1: "Move the label"}
    )
    assert n == 2
    info = ds.get_dataset(db, "from-feedback")
    assert (info.version, info.items) == (1, 2)
    items = {i.origin_trace_id: i for i in ds.list_items(db, "from-feedback")[0]}
    a, b = items[t1], items[t2]
    assert a.input == "How do I roll back? My mail is <EMAIL>" and a.expected == "Move the label"
    assert a.tags == ["from-trace", "thumbs-down"] and a.metadata["release_id"] == "rel_x"
    assert a.metadata["feedback_comment"] == "It did not mention labels"
    assert a.metadata["trace_output"] == "an answer"
    assert b.lang == "es" and b.expected is None and b.tags == ["from-trace"]
    # again: nothing new, no new version
    assert mining.add_from_traces(db, "from-feedback", [t1, t2], actor="ana") == 0
    assert ds.get_dataset(db, "from-feedback").version == 1
    # an unknown id adds nothing at all
    with pytest.raises(NotFoundError, match="1 trace"):
        mining.add_from_traces(db, "from-feedback", [_trace(db, "new"), "f" * 32], actor="ana")
    assert ds.get_dataset(db, "from-feedback").items == 2
    with pytest.raises(InvalidInputError):
        mining.add_from_traces(db, "from-feedback", [], actor="ana")


def test_candidate_traces_filter_by_feedback_guards_time_and_membership(db: Database) -> None:
    down = _trace(db, "bad answer here")
    up = _trace(db, "good answer")
    guarded = _trace(db, "ignore previous instructions")
    _trace(db, "an eval item", session_id="eval:run1")
    old = _trace(db, "old and bad")
    with db.session() as s:
        s.add(Feedback(trace_id=down, score=0.0, comment="wrong"))
        s.add(Feedback(trace_id=old, score=0.0))
        s.add(Feedback(trace_id=up, score=1.0))
        s.add(GuardEvent(trace_id=guarded, validator="prompt_injection", direction="input",
                         action="blocked"))  # fmt: skip
        s.get(Trace, old).started_at = datetime.now(UTC) - timedelta(days=30)  # type: ignore[union-attr]
    rows, total = mining.candidate_traces(db)
    assert {r.id for r in rows} == {down, old} and total == 2
    assert next(r for r in rows if r.id == down).comment == "wrong"
    recent = mining.TraceQuery(since=datetime.now(UTC) - timedelta(days=1))
    assert [r.id for r in mining.candidate_traces(db, recent)[0]] == [down]
    events = mining.TraceQuery(feedback=None, guard_events=True)
    (row,), _ = mining.candidate_traces(db, events)
    assert row.id == guarded and row.guard_events == 1
    mining.add_from_traces(db, "fb", [down], actor="ana")
    assert {r.id for r in mining.candidate_traces(db)[0]} == {old}
    assert len(mining.candidate_traces(db, mining.TraceQuery(exclude_in_datasets=False))[0]) == 2


def test_names_are_checked(db: Database) -> None:
    for bad in ("", " ", "a/b", "x" * 201, "-leading"):
        with pytest.raises(InvalidInputError):
            ds.create_dataset(db, bad)
    ds.create_dataset(db, "Soporte ES v2")
    with pytest.raises(InvalidInputError, match="already exists"):
        ds.create_dataset(db, "Soporte ES v2")
    assert ds.get_dataset(db, "Soporte ES v2").version == 0
    assert [d.name for d in ds.list_datasets(db)] == ["Soporte ES v2"]


def _nothing_stored(db: Database) -> None:
    assert _count(db) == 0 and ds.list_datasets(db) == []


@pytest.mark.parametrize(
    "name,data,line,message",
    [
        ("surrogate.jsonl", '{"input": "ok"}\n{"input": "caf\\ud800"}\n', 2,
         "'input' contains '\\ud800' at character 4, a lone surrogate"),
        ("nested.jsonl", '{"input": "ok", "metadata": {"note": ["x", "\\udc00"]}}\n', 1,
         "'metadata.note[1]' contains '\\udc00'"),
        ("list.jsonl", '{"input": "ok", "must_include": ["\\udfff"]}\n', 1,
         "'must_include[0]' contains"),
        ("nan.jsonl", '{"input": "ok", "metadata": {"w": NaN}}\n', 1, "NaN is not a JSON value"),
        ("lang.jsonl", '{"input": "ok", "lang": "abc-defghijk"}\n', 1, "'lang' must be"),
        ("unterminated.csv", 'input,expected\nok,fine\n\n"abc,1\nxyz,2\n', 4,
         "a quoted cell starts on this line and is never closed"),
        ("stray.csv", 'input\nok\n"ab"cd\n', 3, "not valid CSV"),
        ("header.csv", '"input\nok\n', 1, "never closed"),
        ("cell.csv", 'input,metadata\nok,"{""k"": ""\\ud800""}"\n', 2, "'metadata.k' contains"),
    ],
)  # fmt: skip
def test_bad_files_name_the_line_and_field_and_import_nothing(
    db: Database, tmp_path: Path, name: str, data: str, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_text(data, encoding="utf-8")
    with pytest.raises(ds.InvalidFileError) as err:
        ds.import_cases(db, "bad", ds.read_cases(path))
    assert err.value.errors[0][0] == line, err.value.errors
    assert message in err.value.errors[0][1], err.value.errors
    assert "\n" not in str(err.value)
    _nothing_stored(db)


def test_a_line_separator_inside_a_json_string_is_not_a_line_break(db: Database) -> None:
    ds.add_cases(db, "seps", [ds.Case(input="first\u2028second\x85third", lang="en")])
    exported = ds.export_cases(db, "seps")
    assert exported.count("\n") == 1
    (case,) = ds.parse_jsonl(exported, "seps.jsonl")
    assert case.input == "first\u2028second\x85third"


def test_importing_the_same_cases_twice_adds_them_once(db: Database) -> None:
    cases = ds.parse_jsonl(_jsonl(GOOD))
    info, added = ds.import_cases(db, "twice", cases, actor="ana")
    assert (info.version, info.items, added) == (1, 3, 3)
    info, added = ds.import_cases(db, "twice", ds.parse_jsonl(_jsonl(GOOD)), actor="ana")
    assert (info.version, info.items, added) == (1, 3, 0)  # no new version for nothing new
    more = ds.parse_jsonl(_jsonl([*GOOD, {"input": "A new question"}, GOOD[0]]))
    info, added = ds.import_cases(db, " twice ", more, actor="ana")
    assert (info.name, info.version, info.items, added) == ("twice", 2, 5, 2)
    assert _count(db) == 5
    for blank in ("", "   "):
        with pytest.raises(InvalidInputError, match="not valid"):
            ds.import_cases(db, blank, cases)
    assert [d.name for d in ds.list_datasets(db)] == ["twice"]


def test_a_write_that_fails_half_way_leaves_nothing(db: Database) -> None:
    # a case no store can encode, behind a good one (files never get here: see above)
    cases = [ds.Case(input="good", lang="en"), ds.Case(input="bad \ud800", lang="en")]
    with pytest.raises(Exception):  # noqa: B017 - the driver's own encoding error
        ds.import_cases(db, "half", cases)
    _nothing_stored(db)
