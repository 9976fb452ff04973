"""Time trials and time attack: what a driver sets alone on track, week by week.

In a series with time trials each race week has a time trial: about one driver of the series
in four takes part, on the week's track and car, some time during the week, with 1 to 5 runs
and a best average over the runs' laps (`best_nlaps_time`) that follows his rating. The week's
results rank those times, and the season's standings add the weeks up.

Time attack competitions run a quarter each, on three tracks of the quarter's first official
series; the authenticated member sets a time on some of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import DAY, Model, Series, mix, quarter_bounds

TT_SHARE = 4  # one driver in TT_SHARE runs a week's time trial
TA_BASE = 700  # time attack competition season ids: TA_BASE + quarter index
TA_TRACKS = 3


@dataclass(frozen=True, slots=True)
class Run:
    """A driver's time trial of one week: when, how many runs, his best average."""

    d: int
    week: int
    at: float
    starts: int
    best: int  # 1/10000 s


def week_runs(model: Model, series: Series, year: int, quarter: int, week: int) -> list[Run]:
    """The time trials of a race week, fastest first (only the series with time trials)."""
    if not series.time_trials:
        return []
    season_id = model.season_id(series.lane, year, quarter)
    start = quarter_bounds(year, quarter)[0] + week * 7 * DAY
    track = model.track_for(series, week)
    runs = []
    for d in model.rosters[series.lane]:
        h = mix(model.seed, 50, season_id, week, d)
        if h % TT_SHARE:
            continue
        skill = max(0.0, min(1.0, (model.ir[d] - 500) / 5000))
        pace = 1.0 + 0.03 * (1 - skill) + ((h >> 8) % 1000) / 100_000
        best = int(track.lap_seconds * 10_000 * pace)
        at = start + (h >> 20) % (7 * DAY)
        runs.append(Run(d, week, at, 1 + (h >> 40) % 5, best))
    runs.sort(key=lambda r: (r.best, r.d))
    return runs


def tt_points(rank: int, field: int) -> float:
    """A time trial's points: the week's fastest scores the most, the slowest a few."""
    return round(100 * (field - rank + 1) / max(1, field) + 10, 2)


def ta_season(year: int, quarter: int) -> int:
    return TA_BASE + (year - 2000) * 4 + quarter - 1


def ta_quarter(comp_season_id: int) -> tuple[int, int] | None:
    index = comp_season_id - TA_BASE
    if index < 0:
        return None
    return 2000 + index // 4, index % 4 + 1
