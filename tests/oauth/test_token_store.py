"""Tokens at rest: encrypted in SQLite, keys in a 0600 file or the environment, rotation."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from harvester._config.settings import Settings
from harvester._core.clock import ManualClock
from harvester._core.errors import ConfigError, TokenKeyError
from harvester._oauth.keys import default_key_path, read_key_file
from harvester._oauth.store import rotate_encryption
from harvester._service.runtime import open_runtime
from harvester._store.db import open_database
from harvester.simulator import RunningSimulator, Simulator, SimulatorTransport
from tests.helpers import env_for, make_settings, run_harvester


def _files_of(settings: Settings) -> bytes:
    db_path = Path(settings.database_url.removeprefix("sqlite:///"))
    data = b""
    for suffix in ("", "-wal", "-shm"):
        candidate = db_path.with_name(db_path.name + suffix)
        if candidate.exists():
            data += candidate.read_bytes()
    return data


def test_tokens_never_appear_in_the_database_file_or_its_wal(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        first = rt.session.login()
        clock.advance(590)
        rt.session.access_token()  # a refresh: more tokens through the WAL
        second = rt.store.load()
        raw = _files_of(settings)  # read while open: the WAL still holds the writes
    assert second is not None
    secrets = [
        first.access_token,
        first.refresh_token,
        second.access_token,
        second.refresh_token,
        settings.password,
        settings.client_secret,
    ]
    for secret in secrets:
        assert secret
        assert secret.encode() not in raw
    # and the same after the WAL was checkpointed into the main file
    raw = _files_of(settings)
    for secret in secrets:
        assert secret and secret.encode() not in raw


def test_the_key_file_is_created_beside_the_database_with_mode_0600(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    path = default_key_path(settings)
    assert path.parent == Path(settings.database_url.removeprefix("sqlite:///")).parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_file_readable_by_others_is_refused(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    path = default_key_path(settings)
    os.chmod(path, 0o644)
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(ConfigError) as caught:
            rt.session.access_token()
    assert "chmod 600" in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_wrong_key_is_a_clear_error_and_never_a_silent_password_login(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    other = settings.with_overrides(keys=(Fernet.generate_key().decode(),))
    with open_runtime(other, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(TokenKeyError) as caught:
            rt.session.access_token()
    assert "cannot be decrypted" in str(caught.value)
    assert "harvester auth logout" in str(caught.value)
    assert sim.state()["password_grants"] == 1


def test_a_missing_key_file_with_a_stored_session_is_a_clear_error(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
    default_key_path(settings).unlink()
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(TokenKeyError, match="key is missing"):
            rt.session.access_token()
    assert sim.state()["password_grants"] == 1


def test_an_invalid_harvester_key_names_the_variable(settings: Settings) -> None:
    engine = open_database(settings.database_url)
    bad = settings.with_overrides(keys=("not-a-key",))
    with pytest.raises(ConfigError, match="HARVESTER_KEY entry 1"):
        rotate_encryption(bad, engine)


def test_keys_rotate_with_a_key_file_reencrypts_and_drops_the_old_key(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        tokens = rt.session.login()
        old_key = default_key_path(settings).read_text()
        message = rotate_encryption(settings, rt.engine)
        assert "re-encrypted 1" in message
        new_key = default_key_path(settings).read_text()
        assert new_key != old_key and len(new_key.split()) == 1
        assert stat.S_IMODE(default_key_path(settings).stat().st_mode) == 0o600
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        stored = rt.store.load()
    assert stored is not None and stored.access_token == tokens.access_token
    only_old = settings.with_overrides(keys=(old_key.strip(),))
    with open_runtime(only_old, transport=SimulatorTransport(sim), clock=clock) as rt:
        with pytest.raises(TokenKeyError):
            rt.store.load()


def test_keys_rotate_with_harvester_key_uses_the_first_key(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with_old = settings.with_overrides(keys=(old,))
    with open_runtime(with_old, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        rotate_encryption(settings.with_overrides(keys=(new, old)), rt.engine)
    with open_runtime(
        settings.with_overrides(keys=(new,)), transport=SimulatorTransport(sim), clock=clock
    ) as rt:
        assert rt.store.load() is not None


def test_a_failed_rotation_re_encrypts_nothing_and_keeps_every_key(
    settings: Settings, sim: Simulator, clock: ManualClock
) -> None:
    with open_runtime(settings, transport=SimulatorTransport(sim), clock=clock) as rt:
        rt.session.login()
        path = default_key_path(settings)
        before = path.read_text()
        path.write_text(Fernet.generate_key().decode() + "\n")  # the wrong key
        os.chmod(path, 0o600)
        wrong = path.read_text()
        with pytest.raises(TokenKeyError, match="nothing was re-encrypted"):
            rotate_encryption(settings, rt.engine)
        kept = path.read_text().split()
        assert len(kept) == 2 and kept[1] == wrong.strip()  # the new key was added, none lost
        path.write_text(before)
        assert rt.store.load() is not None  # the stored session was not touched


# -- a key file that is not a regular file ------------------------------------------------------


def special_files(folder: Path) -> dict[str, Path]:
    """A FIFO (whose open blocks until a writer comes), a device, a directory."""
    fifo = folder / "key.fifo"
    os.mkfifo(fifo, 0o600)
    device = folder / "key.dev"
    device.symlink_to("/dev/zero")
    directory = folder / "key.dir"
    directory.mkdir(mode=0o700)
    return {"a FIFO": fifo, "a device": device, "a directory": directory}


@pytest.mark.parametrize("kind", ["a FIFO", "a device", "a directory"])
def test_a_key_file_that_is_not_a_regular_file_is_refused_without_waiting(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO as HARVESTER_KEY_FILE hung `auth login`, `run` and `keys rotate` for good."""
    path = special_files(tmp_path)[kind]
    outcome: list[BaseException | tuple[bytes, ...]] = []

    def read() -> None:
        try:
            outcome.append(read_key_file(path))
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)  # bounded: a hang fails the test instead of stopping the suite
    assert not reader.is_alive(), "reading the key file blocked"
    [error] = outcome
    assert isinstance(error, ConfigError), error
    assert str(error) == f"key file {path} is not a regular file ({kind}): not read"


def test_a_key_file_larger_than_any_list_of_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "harvester.key"
    path.write_bytes(Fernet.generate_key() + b"\n" + b"#" * 2_000_000)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="larger than"):
        read_key_file(path)


@pytest.mark.slow  # a command in a process of its own, each
@pytest.mark.parametrize("command", [("auth", "login"), ("run", "member_info"), ("keys", "rotate")])
def test_commands_with_a_fifo_as_the_key_file_end_with_one_line(
    tmp_path: Path, loopback: RunningSimulator, backend: str, command: tuple[str, ...]
) -> None:
    settings = make_settings(tmp_path, loopback.url, database_url=backend)
    settings.jobs_path.write_text("jobs:\n  member_info: {endpoint: member/info, every: 1h}\n")
    fifo = special_files(tmp_path)["a FIFO"]
    env = {**env_for(settings), "HARVESTER_KEY_FILE": str(fifo)}
    result = run_harvester(*command, env=env, timeout=60)  # it hung here: TimeoutExpired
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "not a regular file" in line]
    assert lines and f"key file {fifo} is not a regular file (a FIFO)" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
