"""The trace view's waterfall in a real Chromium: at 14 spans every span has its own row,
and no two rows or labels overlap.

The chart is drawn on a canvas, so the check reads the pixels of a screenshot of the chart:
bars are the saturated pixels inside the plot, labels the dark pixels left of it. Each span
must give one band of bar pixels and one band of label pixels, the bands must not touch, and
each label must sit on its bar's row. Screenshot: tests/artifacts/waterfall-14-spans.png.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.store.db import Database
from llmops.store.models import Span, Trace

from .conftest import ADMIN_PASSWORD, ARTIFACTS, _streamlit, copy_home

pytestmark = pytest.mark.e2e

TID = "cd" * 16
SPANS = 14
KINDS = ("chain", "guard", "retriever", "llm", "embedding", "tool")


def _seed(db: Database) -> None:
    """A root covering the whole turn and 13 children, some nested, with long names."""
    t0 = datetime.now(UTC) - timedelta(minutes=3)
    spans = []
    for i in range(SPANS):
        start, end = (0, 10 * SPANS + 5) if i == 0 else (10 * i, 10 * i + 8)
        parent = None if i == 0 else f"{0 if i < 5 else i - 1:016x}"
        spans.append(Span(
            trace_id=TID, id=f"{i:016x}", parent_id=parent, kind=KINDS[i % len(KINDS)],
            name=f"step {i} " + ("retrieve and rerank the knowledge base" if i % 3 else "llm"),
            started_at=t0 + timedelta(milliseconds=start),
            ended_at=t0 + timedelta(milliseconds=end), duration_ms=end - start,
        ))  # fmt: skip
    with db.session() as s:
        s.add(Trace(id=TID, session_id="s-waterfall", model="local-extractive", started_at=t0,
                    latency_ms=10 * SPANS + 5, input="Fourteen spans", output="ok"))  # fmt: skip
        s.flush()
        s.add_all(spans)


@pytest.fixture(scope="module")
def waterfall_server(e2e_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = copy_home(e2e_home, tmp_path_factory.mktemp("waterfall") / "home")
    db = Database(Settings(home=home).db_url)
    try:
        _seed(db)
    finally:
        db.dispose()
    with _streamlit(home) as url:
        yield url


def _bands(mask: Any) -> list[tuple[int, int]]:
    """Runs of consecutive True rows: (first, last) pixel rows."""
    out: list[tuple[int, int]] = []
    start = None
    for y, on in enumerate([*list(mask), False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            out.append((start, y - 1))
            start = None
    return out


def test_the_waterfall_gives_each_span_its_own_row(page: Any, waterfall_server: str) -> None:
    np = pytest.importorskip("numpy")
    image_mod = pytest.importorskip("PIL.Image")
    page.goto(waterfall_server)
    page.get_by_text("Ask about LLMOps").wait_for()
    page.goto(f"{waterfall_server}/traces?trace={TID}")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    chart = page.get_by_test_id("stVegaLiteChart").first
    chart.wait_for()
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # the canvas paints after the element appears
    png = chart.screenshot()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "waterfall-14-spans.png").write_bytes(png)

    rgb = np.asarray(image_mod.open(io.BytesIO(png)).convert("RGB")).astype(int)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    colored = spread > 40  # bars (and legend symbols); text and axes are gray
    dark = (rgb.max(axis=2) < 200) & (spread < 30)  # label text (gray, anti-aliased)
    # the root's bar spans the whole plot: its row gives the plot's left and right edges
    rows_with_color = _bands(colored.any(axis=1))
    assert rows_with_color, "no bars drawn"
    top = rows_with_color[0]
    xs = np.nonzero(colored[(top[0] + top[1]) // 2])[0]
    x0 = int(xs.min())
    x1 = int(xs[xs < x0 + (rgb.shape[1] - x0) * 0.9].max())  # not the legend's symbols
    bars = _bands(colored[:, x0 : x1 + 1].any(axis=1))
    assert len(bars) == SPANS, bars
    heights = [b - a + 1 for a, b in bars]
    assert min(heights) >= 12, heights  # rows tall enough to read
    y_top, y_bottom = max(0, bars[0][0] - 6), bars[-1][1] + 6
    label_area = dark[y_top : y_bottom + 1, : max(1, x0 - 8)]  # left of the tick marks
    labels = [(a + y_top, b + y_top) for a, b in _bands(label_area.any(axis=1))]
    assert len(labels) == SPANS, labels
    for (la, lb), (ba, bb) in zip(labels, bars, strict=True):
        middle = (la + lb) / 2
        assert ba <= middle <= bb, ((la, lb), (ba, bb))  # each label on its own bar's row
    for (_, end), (start, _) in itertools.pairwise(labels):
        assert start > end + 1  # labels never touch
