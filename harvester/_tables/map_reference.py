"""Reference data: series/get, series/seasons, season/list, car/get, track/get (pure)."""

from __future__ import annotations

from collections.abc import Iterator

from .source import FULL, FULLEST, PARTIAL, Emit, Source, items, need_list, need_object, obj, unique


def series_get(source: Source) -> Iterator[Emit]:
    rows = []
    for s in need_list(source, source.header):
        groups = [
            g["license_group"]
            for g in items(s.get("allowed_licenses"))
            if isinstance(g.get("license_group"), int)
        ]
        rows.append({**s, "min_license_group": min(groups) if groups else None})
    yield "series", FULL, rows


def series_seasons(source: Source) -> Iterator[Emit]:
    """series/seasons: a list of seasons, each with its schedule (and its series' names)."""
    seasons = need_list(source, source.header)
    yield "seasons", FULLEST, seasons
    series = []
    for s in unique(seasons, "series_id"):
        named = obj(s.get("series")) or next(iter(items(s.get("schedules"))), {})
        series.append(
            {
                "series_id": s.get("series_id"),
                "series_name": named.get("series_name"),
                "series_short_name": named.get("series_short_name"),
                "category_id": named.get("category_id"),
                "category": named.get("category"),
            }
        )
    yield "series", PARTIAL, series


def season_list(source: Source) -> Iterator[Emit]:
    """season/list and series/season_list: `{seasons: [...]}`."""
    d = need_object(source)
    seasons = need_list(source, d.get("seasons"), "seasons")
    yield "seasons", FULL, seasons


def car_get(source: Source) -> Iterator[Emit]:
    yield "cars", FULL, need_list(source, source.header)


def track_get(source: Source) -> Iterator[Emit]:
    yield "tracks", FULL, need_list(source, source.header)
