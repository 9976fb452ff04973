"""The instance lock beside a SQLite archive holds when its file is deleted or replaced: the
holder notices at its next look (every second in the service) and takes the path back, or, when
a second service took it first, lets go; a start never trusts a lock on a file that is no longer
at the path. (Two opens in one process are two holders to flock, as two processes are.)"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester._core.errors import ConfigError
from harvester._store.lock import InstanceLock
from harvester.simulator import RunningSimulator
from tests.helpers import env_for, make_settings, start_harvester, wait_for


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "harvester.db.lock"


@pytest.fixture
def first(path: Path) -> Iterator[InstanceLock]:
    held = InstanceLock(path)
    held.acquire()
    yield held
    held.release()


def test_a_deleted_lock_file_is_taken_back_and_a_second_start_is_refused(
    path: Path, first: InstanceLock
) -> None:
    """Before: the second start created a new file, locked it and ran beside the first."""
    path.unlink()
    assert first.still_held()  # the service's look every second: the path is its own again
    assert path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(ConfigError, match=f"already running on this database \\(pid {os.getpid()}"):
        InstanceLock(path).acquire()


def test_a_replaced_lock_file_is_taken_back(path: Path, first: InstanceLock) -> None:
    other = path.with_name("other")
    other.write_text("")
    os.replace(other, path)  # an empty file where the lock was (a restore, an editor)
    assert first.still_held()
    with pytest.raises(ConfigError, match="already running"):
        InstanceLock(path).acquire()


def test_when_a_second_start_took_the_path_first_the_first_lets_go(
    path: Path, first: InstanceLock
) -> None:
    """Between the deletion and the holder's next look, a second start can lock the new file:
    the first then finds it cannot take the path back, and says it no longer holds the lock
    (the service steps down), so at most one of them goes on."""
    path.unlink()
    second = InstanceLock(path)
    second.acquire()
    try:
        assert not first.still_held()
        assert second.still_held()
        assert InstanceLock(path).holder() == os.getpid()
    finally:
        second.release()


def test_a_start_does_not_trust_a_lock_on_a_file_deleted_under_it(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is opened, then flocked: if meanwhile another start deleted it and locked a new
    one at the path, the first flock succeeds on a file nobody else can see. The lock is taken
    only once the path names the file locked."""
    real_flock = fcntl.flock
    rival: list[InstanceLock] = []

    def flock(fd: int, operation: int) -> None:
        if not rival:  # the first flock: a rival replaces the file just before it
            path.unlink()
            rival.append(InstanceLock(path))
            rival[0].acquire()
        real_flock(fd, operation)

    monkeypatch.setattr("harvester._store.lock.fcntl.flock", flock)
    try:
        with pytest.raises(ConfigError, match="already running"):
            InstanceLock(path).acquire()
    finally:
        monkeypatch.undo()
        rival[0].release()


def test_a_lock_released_is_not_taken_back(path: Path) -> None:
    held = InstanceLock(path)
    held.acquire()
    held.release()
    path.unlink()
    assert not held.still_held()
    assert not path.exists()


@pytest.mark.slow
def test_deleting_the_lock_file_of_a_running_service_does_not_let_a_second_one_start(
    tmp_path: Path, loopback: RunningSimulator
) -> None:
    (tmp_path / "jobs.yaml").write_text("jobs:\n  info: {endpoint: member/info, every: 1h}\n")
    env = env_for(make_settings(tmp_path, loopback.url))
    lock_file = tmp_path / "harvester.db.lock"
    first = start_harvester("start", env=env, cwd=tmp_path, output=True)
    try:
        wait_for(lambda: lock_file.exists() and lock_file.read_text() == f"{first.pid}\n")
        lock_file.unlink()
        wait_for(lambda: lock_file.exists() and lock_file.read_text() == f"{first.pid}\n")
        second = start_harvester("start", env=env, cwd=tmp_path, output=True)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert f"already running on this database (pid {first.pid}" in err
        assert first.poll() is None  # the first one runs on
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            first.kill()
            first.communicate()
    assert first.returncode == 0
