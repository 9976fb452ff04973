"""Settings from the environment and a `.env` file, validated once into one frozen object.

The process environment wins over `.env`. The reference client's names (CLIENT_ID, CLIENT_SECRET,
USERNAME, PASSWORD, SCOPE) are read from `.env` only: `USERNAME` in the OS environment is the
login name of whoever runs the process (Windows always sets it), never the iRacing user.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .._core.clock import parse_clock
from .._core.errors import ConfigError

# the largest sensible value of each numeric setting (a larger one is a typo, or an attack)
MAXIMA = {
    "REQUEST_TIMEOUT": 3600.0,
    "TOKEN_REFRESH_BUFFER_SECONDS": 86400.0,
    "HARVESTER_PASSWORD_GRANTS_PER_HOUR": 100.0,
    "HARVESTER_LEASE_SECONDS": 300.0,
}
MIN_LEASE_SECONDS = 2.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "human")

# harvester name -> the reference client's name for it (accepted from .env only)
REFERENCE_NAMES = {
    "IRACING_CLIENT_ID": "CLIENT_ID",
    "IRACING_CLIENT_SECRET": "CLIENT_SECRET",
    "IRACING_USERNAME": "USERNAME",
    "IRACING_PASSWORD": "PASSWORD",
    "IRACING_SCOPE": "SCOPE",
}


# where iRacing's pre-signed links point (S3, and CloudFront for lap data): HARVESTER_DOWNLOAD_HOSTS
DEFAULT_DOWNLOAD_HOSTS = (
    "scorpio-assets.s3.amazonaws.com",
    "scorpio-assets.s3.*.amazonaws.com",
    "*.cloudfront.net",
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the defaults of the architecture's contract."""

    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    scope: str = "iracing.auth"
    oauth_url: str = "https://oauth.iracing.com/oauth2"
    data_url: str = "https://members-ng.iracing.com"
    database_url: str = "sqlite:///harvester.db"
    # a read-only copy (a PostgreSQL streaming replica) for the commands that only read:
    # query, tables, status, runs and the MCP server; None: they read database_url
    read_database_url: str | None = field(default=None, repr=False)
    # PostgreSQL: how long the active service's lease lasts without a renewal; a frozen or
    # cut-off active service is replaced within about this long (see docs/high-availability.md)
    lease_seconds: float = 10.0
    keys: tuple[str, ...] = field(default=(), repr=False)
    key_file: Path | None = None
    jobs_path: Path = Path("jobs.yaml")
    log_level: str = "INFO"
    log_format: str | None = None  # None: json unless stderr is a terminal
    request_timeout: float = 30.0
    token_refresh_buffer_seconds: float = 60.0
    password_grants_per_hour: int = 3
    clock: str = "system"
    # limits on what a server can make harvester read (issue 10, item 7 and 12)
    max_document_bytes: int = 512 * 1024 * 1024
    request_deadline_seconds: float = 300.0
    max_chunks: int = 10_000
    download_hosts: tuple[str, ...] = DEFAULT_DOWNLOAD_HOSTS
    # -- watching it: the HTTP endpoint (None: off) and the alert webhook ----------------------
    http: tuple[str, int] | None = None  # built in code: off; from the environment: 127.0.0.1:8686
    http_token: str = field(default="", repr=False)
    # the Host names the endpoint answers besides its own (DNS rebinding: docs/security.md)
    http_allowed_hosts: tuple[str, ...] = ()
    alert_webhook: str = field(default="", repr=False)
    alert_after: int = 3
    # the variables the settings were read from (`.env` under the process environment), for
    # `{env:NAME}` templates; None: the process environment
    environment: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def env(self) -> Mapping[str, str]:
        return os.environ if self.environment is None else self.environment

    def reread_env(self) -> None:
        """Pick up an edited `.env` for `{env:NAME}` (a jobs.yaml reload does, SIGHUP too)."""
        if isinstance(self.environment, Environment):
            self.environment.reread()

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def reading_url(self) -> str:
        """Where the reading commands read: the replica when one is set."""
        return self.read_database_url or self.database_url

    @property
    def reads_replica(self) -> bool:
        return self.read_database_url is not None

    @property
    def has_credentials(self) -> bool:
        return all((self.client_id, self.client_secret, self.username, self.password))

    @property
    def missing_credentials(self) -> list[str]:
        """The credential variables not set, by name (none when all four are)."""
        values = {
            "IRACING_CLIENT_ID": self.client_id,
            "IRACING_CLIENT_SECRET": self.client_secret,
            "IRACING_USERNAME": self.username,
            "IRACING_PASSWORD": self.password,
        }
        return [name for name, value in values.items() if not value]

    def credentials_wanted(self) -> str:
        """What to set for a password login, one line: the four variables when none is set,
        else only those missing (a typo in one name does not read as "set all four")."""
        missing = self.missing_credentials
        if len(missing) == 4:
            return (
                "set IRACING_CLIENT_ID, IRACING_CLIENT_SECRET, IRACING_USERNAME and "
                "IRACING_PASSWORD (environment or .env)"
            )
        names = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        verb = "is" if len(missing) == 1 else "are"
        return f"{names} {verb} not set (the other credentials are; environment or .env)"

    def secrets(self) -> list[str]:
        """The configured secrets, for the log redactor."""
        values = (self.client_secret, self.password, self.http_token, self.alert_webhook)
        return [value for value in values if value]


class Environment(Mapping[str, str]):
    """The variables `{env:NAME}` reads: the process environment over `.env`. One object, held
    by every copy of the settings, so `reread()` (a jobs.yaml reload calls it) makes an edited
    `.env` count everywhere at once; harvester's own settings stay as read at start."""

    def __init__(self, process: Mapping[str, str], env_file: Path | None) -> None:
        self._process = dict(process)
        self._file = env_file
        self.from_file = self._read_file()  # what `.env` says, for the settings themselves
        self._values = {**self.from_file, **self._process}

    def _read_file(self) -> dict[str, str]:
        if self._file is None or not self._file.is_file():
            return {}
        return {k: v for k, v in dotenv_values(self._file).items() if v is not None}

    def reread(self) -> None:
        """Read `.env` again (an unreadable one leaves the values as they were)."""
        with contextlib.suppress(OSError, UnicodeDecodeError):
            self._values = {**self._read_file(), **self._process}

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ".env",
) -> Settings:
    """Read settings; a bad value raises ConfigError naming the variable."""
    process_env = dict(os.environ if environ is None else environ)
    environment = Environment(
        process_env, Path(env_file).absolute() if env_file is not None else None
    )
    file_env = environment.from_file

    def get(name: str) -> str | None:
        if name in process_env:
            return process_env[name]
        if name in file_env:
            return file_env[name]
        reference = REFERENCE_NAMES.get(name)
        if reference is not None and reference in file_env:
            return file_env[reference]
        return None

    defaults = Settings()
    key_file = get("HARVESTER_KEY_FILE")
    return Settings(
        client_id=(get("IRACING_CLIENT_ID") or "").strip(),
        client_secret=get("IRACING_CLIENT_SECRET") or "",
        username=(get("IRACING_USERNAME") or "").strip(),
        password=get("IRACING_PASSWORD") or "",
        scope=(get("IRACING_SCOPE") or defaults.scope).strip(),
        oauth_url=_url("IRACING_OAUTH_URL", get("IRACING_OAUTH_URL"), defaults.oauth_url),
        data_url=_url("IRACING_DATA_URL", get("IRACING_DATA_URL"), defaults.data_url),
        database_url=_database_url(get("HARVESTER_DATABASE_URL") or defaults.database_url),
        read_database_url=_read_database_url(get("HARVESTER_READ_DATABASE_URL")),
        lease_seconds=_lease_seconds(get("HARVESTER_LEASE_SECONDS"), defaults.lease_seconds),
        keys=_keys(get("HARVESTER_KEY")),
        key_file=Path(key_file).expanduser() if key_file else None,
        jobs_path=Path(get("HARVESTER_JOBS") or defaults.jobs_path),
        log_level=_choice("LOG_LEVEL", get("LOG_LEVEL"), LOG_LEVELS, defaults.log_level),
        log_format=_optional_choice("LOG_FORMAT", get("LOG_FORMAT"), LOG_FORMATS),
        request_timeout=_positive_float(
            "REQUEST_TIMEOUT", get("REQUEST_TIMEOUT"), defaults.request_timeout
        ),
        token_refresh_buffer_seconds=_non_negative_float(
            "TOKEN_REFRESH_BUFFER_SECONDS",
            get("TOKEN_REFRESH_BUFFER_SECONDS"),
            defaults.token_refresh_buffer_seconds,
        ),
        password_grants_per_hour=_positive_int(
            "HARVESTER_PASSWORD_GRANTS_PER_HOUR",
            get("HARVESTER_PASSWORD_GRANTS_PER_HOUR"),
            defaults.password_grants_per_hour,
        ),
        clock=_clock(get("HARVESTER_CLOCK") or defaults.clock),
        max_document_bytes=_positive_int(
            "HARVESTER_MAX_DOCUMENT_BYTES",
            get("HARVESTER_MAX_DOCUMENT_BYTES"),
            defaults.max_document_bytes,
        ),
        request_deadline_seconds=_positive_float(
            "HARVESTER_REQUEST_DEADLINE_SECONDS",
            get("HARVESTER_REQUEST_DEADLINE_SECONDS"),
            defaults.request_deadline_seconds,
        ),
        max_chunks=_positive_int(
            "HARVESTER_MAX_CHUNKS", get("HARVESTER_MAX_CHUNKS"), defaults.max_chunks
        ),
        download_hosts=_hosts(get("HARVESTER_DOWNLOAD_HOSTS"), defaults.download_hosts),
        http=parse_http_address("HARVESTER_HTTP", get("HARVESTER_HTTP") or "127.0.0.1:8686"),
        http_token=(get("HARVESTER_HTTP_TOKEN") or "").strip(),
        http_allowed_hosts=_allowed_hosts(get("HARVESTER_HTTP_ALLOWED_HOSTS")),
        alert_webhook=_webhook(get("HARVESTER_ALERT_WEBHOOK")),
        alert_after=_positive_int(
            "HARVESTER_ALERT_AFTER", get("HARVESTER_ALERT_AFTER"), defaults.alert_after
        ),
        environment=environment,
    )


def _hosts(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None or not value.strip():
        return default
    hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    for host in hosts:
        if "/" in host or ":" in host or " " in host:
            raise ConfigError(
                f"HARVESTER_DOWNLOAD_HOSTS: {host!r} is not a host name or pattern "
                "(write e.g. scorpio-assets.s3.amazonaws.com,*.cloudfront.net)"
            )
    return hosts


# -- watching it: HARVESTER_HTTP, HARVESTER_ALERT_WEBHOOK ------------------------------------


def parse_http_address(name: str, value: str) -> tuple[str, int] | None:
    """`HOST:PORT`, `[IPv6]:PORT` or `off` (None). Port 0 picks a free port (tests)."""
    text = value.strip()
    if text.lower() == "off":
        return None
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"{name} must be HOST:PORT (like 127.0.0.1:8686) or off, got {value!r}")
    return host, int(port_text)


def _allowed_hosts(value: str | None) -> tuple[str, ...]:
    """HARVESTER_HTTP_ALLOWED_HOSTS: host names, IP addresses or `*.domain`, comma-separated,
    without scheme or port (the endpoint compares names only)."""
    hosts: list[str] = []
    for part in (value or "").split(","):
        entry = part.strip().lower()
        if not entry:
            continue
        bare = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
        try:
            hosts.append(str(ipaddress.ip_address(bare)))
            continue
        except ValueError:
            pass
        name = entry[2:] if entry.startswith("*.") else entry
        labels = name.removesuffix(".").split(".")
        if not all(label and all(ch.isalnum() or ch in "-_" for ch in label) for label in labels):
            raise ConfigError(
                f"HARVESTER_HTTP_ALLOWED_HOSTS: {part.strip()[:100]!r} is not a host name, IP "
                "address or *.domain pattern (no scheme, no port; write e.g. "
                "harvester.example.com,*.lan)"
            )
        hosts.append(entry.removesuffix("."))
    return tuple(hosts)


def _webhook(value: str | None) -> str:
    """An http(s) webhook or an Apprise URL (discord://, tgram://, mailto://...)."""
    from .._feeds.delivery import check_url  # Apprise loads its plugins: only when one is set

    text = (value or "").strip()
    problem = check_url(text) if text else None
    if problem is not None:
        # the URL itself is a credential (Slack and Discord put the key in it): never echo it
        raise ConfigError(f"HARVESTER_ALERT_WEBHOOK must be an http(s) or Apprise URL: {problem}")
    return text


def _url(name: str, value: str | None, default: str) -> str:
    text = (value or default).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {text!r}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises for a port that is not a number from 0 to 65535)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a usable URL ({exc}), got {text!r}") from None
    if not parts.hostname or any(ch.isspace() for ch in text):
        raise ConfigError(f"{name} is not a usable URL (no host, or a space), got {text!r}")
    return text


def _database_url(value: str) -> str:
    text = value.strip()
    if "://" not in text:
        raise ConfigError(
            "HARVESTER_DATABASE_URL must be a database URL like sqlite:///harvester.db, "
            f"got {text!r}"
        )
    return text


def _read_database_url(value: str | None) -> str | None:
    """HARVESTER_READ_DATABASE_URL: empty is unset; otherwise a PostgreSQL or SQLite URL (never
    echoed: it may carry a password)."""
    from sqlalchemy.engine import make_url

    text = (value or "").strip()
    if not text:
        return None
    try:
        parsed = make_url(text)
    except Exception:
        raise ConfigError(
            "HARVESTER_READ_DATABASE_URL is not a database URL: write it like "
            "postgresql://reader@replica-host/harvester (a read replica of "
            "HARVESTER_DATABASE_URL)"
        ) from None
    backend = parsed.drivername.split("+")[0]
    if backend not in ("postgresql", "postgres", "sqlite"):
        raise ConfigError(
            f"HARVESTER_READ_DATABASE_URL must be a postgresql:// (or sqlite:///) URL, got a "
            f"{backend}:// one"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("HARVESTER_READ_DATABASE_URL: an in-memory SQLite database has no data")
    return text


def _lease_seconds(value: str | None, default: float) -> float:
    seconds = _positive_float("HARVESTER_LEASE_SECONDS", value, default)
    if seconds < MIN_LEASE_SECONDS:
        raise ConfigError(
            f"HARVESTER_LEASE_SECONDS must be at least {MIN_LEASE_SECONDS:g} (the lease is "
            f"renewed every quarter of it), got {value!r}"
        )
    return seconds


def _keys(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _choice(name: str, value: str | None, choices: tuple[str, ...], default: str) -> str:
    if value is None or not value.strip():
        return default
    text = value.strip().upper() if choices is LOG_LEVELS else value.strip().lower()
    if text not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return text


def _optional_choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is None or not value.strip():
        return None
    return _choice(name, value, choices, choices[0])


def _number(name: str, value: str, kind: type[float] | type[int]) -> float:
    """A finite number within MAXIMA[name] (not NaN, not inf, not 1e99)."""
    noun = "a whole number" if kind is int else "a number"
    try:
        number = kind(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be {noun}, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if number > MAXIMA.get(name, math.inf):
        raise ConfigError(f"{name} must be at most {MAXIMA[name]:g}, got {value!r}")
    return number


def _positive_float(name: str, value: str | None, default: float) -> float:
    if value is None or not value.strip():
        return default
    number = _number(name, value, float)
    if not number > 0:
        raise ConfigError(f"{name} must be greater than 0, got {value!r}")
    return number


def _non_negative_float(name: str, value: str | None, default: float) -> float:
    if value is None or not value.strip():
        return default
    number = _number(name, value, float)
    if number < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value!r}")
    return number


def _positive_int(name: str, value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    number = int(_number(name, value, int))
    if number < 1:
        raise ConfigError(f"{name} must be 1 or more, got {value!r}")
    return number


def _clock(value: str) -> str:
    try:
        parse_clock(value)
    except ValueError as exc:
        raise ConfigError(f"HARVESTER_CLOCK: {exc}, got {value!r}") from None
    return value.strip()
