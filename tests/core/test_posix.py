"""harvester is POSIX-only: elsewhere it stops at start-up with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester._cli.main import main
from harvester._core import posix
from harvester._core.posix import UnsupportedPlatform
from harvester._service.runtime import open_runtime
from harvester.simulator import Simulator
from tests.helpers import make_settings


@pytest.fixture
def not_posix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(posix, "is_posix", lambda: False)


@pytest.mark.usefixtures("not_posix")
def test_the_command_stops_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["status"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("harvester: error: harvester runs on POSIX systems only")


@pytest.mark.usefixtures("not_posix")
def test_the_library_refuses_too(tmp_path: Path, sim: Simulator) -> None:
    with pytest.raises(UnsupportedPlatform, match="POSIX systems only"):
        open_runtime(make_settings(tmp_path, sim.base_url))
    assert not (tmp_path / "harvester.db").exists()  # nothing was opened


def test_this_machine_is_posix() -> None:
    posix.require_posix()  # the suite itself runs on POSIX
