"""`harvester jobs init`: write a ready, commented jobs file from a template shipped in the wheel
(harvester/_cli/example_jobs/*.yaml), so a new user starts from a job set that validates
and runs."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click
import yaml

from .._config.settings import load_settings
from .._core.errors import ConfigError, HarvesterError

# name: what it harvests (the first line `--list` shows)
TEMPLATES = {
    "starter": "a few documents about you and the catalogue (the example jobs.yaml)",
    "my-results": "your results by cursor, their details, laps and event logs, your iRating",
    "league": "a league's seasons and sessions, each session's results, its standings",
    "series": "a series' seasons, every race of each and the driver standings",
    "reference": "cars, tracks, series, seasons with their weekly schedules, lookups",
}


def template_text(name: str) -> str:
    """The text of a template; ConfigError naming the known ones for any other name."""
    if name not in TEMPLATES:
        raise ConfigError(f"no jobs template {name!r}; known: {', '.join(TEMPLATES)}")
    return (resources.files("harvester._cli") / "example_jobs" / f"{name}.yaml").read_text("utf-8")


def _default_path() -> Path:
    """Where the settings say the jobs file is (HARVESTER_JOBS, .env), else ./jobs.yaml."""
    try:
        return load_settings().jobs_path
    except HarvesterError:
        return Path("jobs.yaml")


@click.command("init")
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--template",
    "name",
    default="starter",
    show_default=True,
    type=click.Choice(list(TEMPLATES)),
    help="Which job set to start from.",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--list", "list_only", is_flag=True, help="List the templates and exit.")
def jobs_init(file: Path | None, name: str, force: bool, list_only: bool) -> None:
    """Write a commented jobs file from a template (default: the jobs file of the settings)."""
    if list_only:
        for template, about in TEMPLATES.items():
            click.echo(f"{template:<11} {about}")
        return
    path = file or _default_path()
    if path.exists() and not force:
        raise ConfigError(f"{path} exists: choose another FILE, or --force to replace it")
    text = template_text(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the jobs file: {exc.strerror or exc}") from None
    parsed = yaml.safe_load(text)
    jobs = parsed["jobs"]
    needs = sorted(_variables(parsed))  # the values' own, not a comment's {env:NAME}
    click.echo(f"{path}: written from the {name} template ({len(jobs)} jobs)")
    if needs:
        click.echo(f"set {', '.join(needs)} in .env, then: harvester jobs validate {path}")
    else:
        click.echo(f"next: harvester jobs validate {path}")


def _variables(value: object) -> set[str]:
    """The `{env:NAME}` names a parsed jobs file's values use."""
    if isinstance(value, str):
        return {part.split("}")[0].strip() for part in value.split("{env:")[1:]}
    if isinstance(value, dict):
        return set().union(*(_variables(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_variables(v) for v in value))
    return set()
