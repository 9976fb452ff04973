"""Members: member/info, member/get, lookup/drivers, and member/chart_data (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .source import FULL, PARTIAL, Emit, NotDerivable, Source, listed, need_list, need_object

CATEGORIES = {
    1: "oval",
    2: "road",
    3: "dirt_oval",
    4: "dirt_road",
    5: "sports_car",
    6: "formula_car",
}
CHART_TYPES = {1: "iRating", 2: "TT rating", 3: "License/SR"}


def _member(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "cust_id": m.get("cust_id"),
        "display_name": m.get("display_name"),
        "club_id": m.get("club_id"),
        "club_name": m.get("club_name"),
        "flair_id": m.get("flair_id"),
        "flair_name": m.get("flair_name"),
        "country_code": m.get("flair_country_code", m.get("country_code")),
        "member_since": m.get("member_since"),
        "last_login": m.get("last_login"),
        "last_seen": m.get("last_login"),
        "ai": m.get("ai"),
    }


def member_info(source: Source) -> Iterator[Emit]:
    yield "members", FULL, [_member(need_object(source))]


def member_get(source: Source) -> Iterator[Emit]:
    d = need_object(source)
    members = need_list(source, d.get("members"), "members")
    yield "members", FULL, [_member(m) for m in members]


def lookup_drivers(source: Source) -> Iterator[Emit]:
    rows = need_list(source, source.header)
    yield "members", PARTIAL, [_member(m) for m in rows]


def chart_data(source: Source) -> Iterator[Emit]:
    d = need_object(source)
    cust = d.get("cust_id", source.param_int("cust_id"))
    category = d.get("category_id", source.param_int("category_id"))
    chart = d.get("chart_type", source.param_int("chart_type"))
    if cust is None:
        raise NotDerivable(f"{source.endpoint}: no cust_id in the document or the request")
    base = {
        "cust_id": cust,
        "category_id": category,
        "category": CATEGORIES.get(category) if isinstance(category, int) else None,
        "chart_type": chart,
        "chart_type_name": CHART_TYPES.get(chart) if isinstance(chart, int) else None,
    }
    points = listed(source, d, "data")
    yield (
        "member_charts",
        0,
        [{**base, "date": p.get("when"), "value": p.get("value")} for p in points],
    )
