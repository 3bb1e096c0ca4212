"""Model prices: an editable, versioned price table that prices every trace at write time.

How it relates to releases: a release's ``ModelConfig.price_*_per_mtok`` is the price that
release *declares*, and the chat computes a trace's cost from it. The price table holds
versions of a model's price, each in force from ``effective_from`` on. When the table has a
version in force for a trace's model at the trace's start, the span writer replaces the
declared cost with ``tokens × table price`` in the transaction that stores the trace and its
rollups; otherwise the declared cost stands. So:

- one stored number per trace (``traces.cost``), and the rollups add exactly those numbers;
- a provider's price change is one new row here, in force for every release using that
  model, without creating releases; the old rows stay as the history;
- costs already stored do not change when a price changes (like an invoice);
- releases stay immutable and self-describing: their declared prices are the default for
  any model the table does not list.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from llmops.errors import InvalidInputError
from llmops.governance.roles import Actor, Capability, require
from llmops.store.db import Database
from llmops.store.models import AuditLog, ModelPrice, Release, utcnow
from llmops.types import JSONDict

MAX_PRICE = 10_000.0  # USD per million tokens; anything above is a typo


def _text(value: datetime | str) -> str:
    """A timestamp as the writer stores it (naive UTC text), so it compares as a string."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value).replace("T", " ")


class PriceBook:
    """Every price version, by model, searchable by time (loaded once per written batch)."""

    def __init__(self, rows: list[tuple[str, datetime | str, float, float]]) -> None:
        self._by_model: dict[str, tuple[list[str], list[tuple[float, float]]]] = {}
        for model, start, price_in, price_out in sorted(rows, key=lambda r: (r[0], _text(r[1]))):
            starts, prices = self._by_model.setdefault(model, ([], []))
            starts.append(_text(start))
            prices.append((price_in, price_out))

    def __bool__(self) -> bool:
        return bool(self._by_model)

    def price(self, model: str | None, at: datetime | str) -> tuple[float, float] | None:
        """(input, output) USD per million tokens in force for ``model`` at ``at``."""
        entry = self._by_model.get(model or "")
        if entry is None:
            return None
        starts, prices = entry
        i = bisect.bisect_right(starts, _text(at)) - 1
        return prices[i] if i >= 0 else None

    def cost(
        self, model: str | None, at: datetime | str, input_tokens: int, output_tokens: int
    ) -> float | None:
        price = self.price(model, at)
        if price is None:
            return None
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def load_book(conn: Connection) -> PriceBook:
    rows = conn.exec_driver_sql(
        "SELECT model, effective_from, input_per_mtok, output_per_mtok FROM model_prices"
    )
    return PriceBook([tuple(r) for r in rows])  # type: ignore[misc]


@dataclass
class Price:
    id: int
    model: str
    input_per_mtok: float
    output_per_mtok: float
    effective_from: datetime
    note: str
    created_at: datetime
    created_by: str

    def as_dict(self) -> JSONDict:
        d = dict(self.__dict__)
        d["effective_from"] = self.effective_from.isoformat()
        d["created_at"] = self.created_at.isoformat()
        return d


def _price(row: ModelPrice) -> Price:
    return Price(
        row.id, row.model, row.input_per_mtok, row.output_per_mtok, row.effective_from,
        row.note, row.created_at, row.created_by,
    )  # fmt: skip


def _check(value: float, what: str) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or not 0 <= value <= MAX_PRICE:
        raise InvalidInputError(
            f"The {what} price must be between 0 and {MAX_PRICE:,.0f} USD per million tokens, "
            f"not {value!r}."
        )
    return float(value)


def set_price(
    db: Database,
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    effective_from: datetime | None = None,
    note: str = "",
    actor: Actor | str = "system",
) -> Price:
    """Add a price version for ``model`` (in force from ``effective_from``, default now)."""
    actor = require(db, actor, Capability.SETTINGS, action="price.set")
    model = (model or "").strip()
    if not model or len(model) > 200:
        raise InvalidInputError("A model name (1 to 200 characters) is required.")
    price_in = _check(input_per_mtok, "input")
    price_out = _check(output_per_mtok, "output")
    start = effective_from or utcnow()
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    with db.session() as s:
        row = ModelPrice(
            model=model,
            input_per_mtok=price_in,
            output_per_mtok=price_out,
            effective_from=start,
            note=(note or "").strip()[:500],
            created_by=actor,
        )
        s.add(row)
        s.add(
            AuditLog(
                actor=actor,
                action="price.set",
                target=model,
                details={"input": price_in, "output": price_out, "from": start.isoformat()},
            )
        )
        s.flush()
        return _price(row)


def list_prices(db: Database, *, history: bool = False, at: datetime | None = None) -> list[Price]:
    """The version in force per model at ``at`` (default now), or every version."""
    with db.session() as s:
        rows = [
            _price(r)
            for r in s.scalars(
                select(ModelPrice).order_by(ModelPrice.model, ModelPrice.effective_from.desc())
            )
        ]
    if history:
        return rows
    when = at or utcnow()
    current: dict[str, Price] = {}
    for p in rows:  # newest first per model
        if p.model not in current and p.effective_from <= when:
            current[p.model] = p
    return list(current.values())


@dataclass
class DeclaredPrice:
    release_id: str
    release_name: str
    model: str
    input_per_mtok: float
    output_per_mtok: float


def declared_prices(db: Database, limit: int = 200) -> list[DeclaredPrice]:
    """What each release declares for its model (the default when the table has no entry)."""
    with db.session() as s:
        rows = s.execute(
            select(Release.id, Release.name, Release.config)
            .order_by(Release.created_at.desc())
            .limit(limit)
        ).all()
    out = []
    for rid, name, config in rows:
        model = (config or {}).get("model") or {}
        out.append(
            DeclaredPrice(
                rid,
                name,
                str(model.get("name", "")),
                float(model.get("price_input_per_mtok") or 0.0),
                float(model.get("price_output_per_mtok") or 0.0),
            )
        )
    return out
