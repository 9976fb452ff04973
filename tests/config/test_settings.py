"""Settings: names of the contract, .env, the reference client's names, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester._config.settings import load_settings
from harvester._core.errors import ConfigError


def test_defaults_are_the_contract_s() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.scope == "iracing.auth"
    assert settings.oauth_url == "https://oauth.iracing.com/oauth2"
    assert settings.data_url == "https://members-ng.iracing.com"
    assert settings.database_url == "sqlite:///harvester.db"
    assert settings.jobs_path == Path("jobs.yaml")
    assert settings.request_timeout == 30
    assert settings.token_refresh_buffer_seconds == 60
    assert settings.log_level == "INFO"


def test_environment_names(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "IRACING_CLIENT_ID": "cid",
            "IRACING_CLIENT_SECRET": "csecret",
            "IRACING_USERNAME": " me@example.com ",
            "IRACING_PASSWORD": "pw",
            "IRACING_SCOPE": "iracing.auth iracing.profile",
            "IRACING_OAUTH_URL": "http://127.0.0.1:1/oauth2/",
            "IRACING_DATA_URL": "http://127.0.0.1:1",
            "HARVESTER_DATABASE_URL": "sqlite:///x.db",
            "HARVESTER_KEY": "k1, k2",
            "HARVESTER_JOBS": "other.yaml",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "HUMAN",
            "REQUEST_TIMEOUT": "12.5",
            "TOKEN_REFRESH_BUFFER_SECONDS": "90",
        },
        env_file=None,
    )
    assert settings.username == "me@example.com"
    assert settings.oauth_url == "http://127.0.0.1:1/oauth2"
    assert settings.keys == ("k1", "k2")
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "human"
    assert settings.request_timeout == 12.5
    assert settings.token_refresh_buffer_seconds == 90


def test_dot_env_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("IRACING_CLIENT_ID=from-file\nIRACING_USERNAME=file@example.com\n")
    settings = load_settings({"IRACING_CLIENT_ID": "from-env"}, env_file=env_file)
    assert settings.client_id == "from-env"
    assert settings.username == "file@example.com"


def test_reference_client_names_are_accepted_from_dot_env(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "CLIENT_ID=ref-id\nCLIENT_SECRET=ref-secret\nUSERNAME=ref@example.com\n"
        "PASSWORD=ref-pw\nSCOPE=iracing.auth\n"
    )
    settings = load_settings({}, env_file=env_file)
    assert (settings.client_id, settings.client_secret) == ("ref-id", "ref-secret")
    assert (settings.username, settings.password) == ("ref@example.com", "ref-pw")


def test_the_os_username_is_never_the_iracing_user(tmp_path: Path) -> None:
    settings = load_settings({"USERNAME": "windows-login", "CLIENT_ID": "x"}, env_file=None)
    assert settings.username == ""
    assert settings.client_id == ""


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings(
        {"IRACING_PASSWORD": "pw-visible?", "IRACING_CLIENT_SECRET": "cs-visible?"},
        env_file=None,
    )
    assert "visible?" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REQUEST_TIMEOUT", "soon"),
        ("REQUEST_TIMEOUT", "0"),
        ("TOKEN_REFRESH_BUFFER_SECONDS", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("IRACING_DATA_URL", "members-ng.iracing.com"),
        ("HARVESTER_DATABASE_URL", "harvester.db"),
        ("HARVESTER_PASSWORD_GRANTS_PER_HOUR", "many"),
        ("HARVESTER_CLOCK", "fast"),
    ],
)
def test_a_bad_value_gets_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, env_file=None)
    message = str(caught.value)
    assert name in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("REQUEST_TIMEOUT", "1e99", "REQUEST_TIMEOUT must be at most 3600"),
        ("REQUEST_TIMEOUT", "inf", "REQUEST_TIMEOUT must be a finite number"),
        ("TOKEN_REFRESH_BUFFER_SECONDS", "nan", "TOKEN_REFRESH_BUFFER_SECONDS must be a finite"),
        ("HARVESTER_CLOCK", "scaled:nan", "HARVESTER_CLOCK: FACTOR must be above 0"),
        ("HARVESTER_CLOCK", "scaled:inf", "HARVESTER_CLOCK: FACTOR must be above 0"),
        ("IRACING_DATA_URL", "http://[::1", "IRACING_DATA_URL is not a usable URL"),
        ("IRACING_OAUTH_URL", "https://x:99999/oauth2", "IRACING_OAUTH_URL is not a usable URL"),
    ],
)
def test_hostile_numbers_and_urls_stop_with_one_line_naming_the_setting(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, env_file=None)
    message = str(caught.value)
    assert message.startswith(says) and message.splitlines() == [message]


def test_the_read_replica_and_the_lease_settings() -> None:
    unset = load_settings({}, env_file=None)
    assert unset.read_database_url is None and not unset.reads_replica
    assert unset.reading_url == unset.database_url
    assert unset.lease_seconds == 10
    replica = "postgresql://reader:pw-of-the-replica@replica-host/harvester"
    settings = load_settings(
        {
            "HARVESTER_DATABASE_URL": "postgresql://primary-host/harvester",
            "HARVESTER_READ_DATABASE_URL": f" {replica} ",
            "HARVESTER_LEASE_SECONDS": "4.5",
        },
        env_file=None,
    )
    assert settings.reading_url == replica and settings.reads_replica
    assert settings.lease_seconds == 4.5
    assert "pw-of-the-replica" not in repr(settings)
    blank = load_settings({"HARVESTER_READ_DATABASE_URL": "  "}, env_file=None)
    assert blank.reads_replica is False


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HARVESTER_READ_DATABASE_URL", "replica-host:5432", "is not a database URL"),
        ("HARVESTER_READ_DATABASE_URL", "mysql://u:pw-secret@h/db", "a mysql:// one"),
        ("HARVESTER_READ_DATABASE_URL", "sqlite://", "in-memory SQLite"),
        ("HARVESTER_LEASE_SECONDS", "1", "must be at least 2"),
        ("HARVESTER_LEASE_SECONDS", "301", "must be at most 300"),
        ("HARVESTER_LEASE_SECONDS", "soon", "must be a number"),
    ],
)
def test_a_bad_replica_url_or_lease_is_one_line_that_never_echoes_the_url(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, env_file=None)
    message = str(caught.value)
    assert message.startswith(name) and says in message
    assert message.splitlines() == [message]
    assert "pw-secret" not in message
