"""Encryption keys and the MultiFernet that uses them.

Keys come from HARVESTER_KEY (comma-separated, newest first) or a key file (one key per line,
newest first). With neither, `harvester.key` beside the database is created on first use with
mode 0600; a key file that group or others may read is refused, since it guards the tokens.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .._config.settings import Settings
from .._core.errors import ConfigError, TokenKeyError
from .._core.files import kind_of, read_at_most
from .._store.db import sqlite_path

KEY_FILE_NAME = "harvester.key"
MAX_KEY_FILE_BYTES = 65_536  # a thousand keys with comments fit in far less


@dataclass(frozen=True)
class KeySource:
    """Where the keys live: the environment (read-only for harvester) or a file it may rewrite."""

    keys: tuple[bytes, ...]
    path: Path | None  # None when the keys come from HARVESTER_KEY

    def describe(self) -> str:
        return "HARVESTER_KEY" if self.path is None else f"key file {self.path}"


class KeyRing:
    """Encrypts with the newest key; decrypts with any of them."""

    def __init__(self, source: KeySource) -> None:
        if not source.keys:
            raise ConfigError("no encryption key configured")
        self.source = source
        self._fernet = MultiFernet([Fernet(key) for key in source.keys])

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise TokenKeyError(
                f"the stored OAuth session cannot be decrypted with the {self.source.describe()}: "
                "restore the key that encrypted it (HARVESTER_KEY or HARVESTER_KEY_FILE), or run "
                "`harvester auth logout` then `harvester auth login` to start a new session"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt with the newest key (raises TokenKeyError if no key can read it)."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken:
            raise TokenKeyError(
                f"a stored secret cannot be decrypted with the {self.source.describe()}; "
                "nothing was re-encrypted"
            ) from None


def default_key_path(settings: Settings) -> Path:
    """harvester.key beside the SQLite file (or in the working directory for other databases)."""
    if settings.key_file is not None:
        return settings.key_file
    database = sqlite_path(settings.database_url)
    return (database.parent if database is not None else Path(".")) / KEY_FILE_NAME


def load_key_source(settings: Settings, *, create: bool) -> KeySource | None:
    """The configured keys; None when there is no key yet and `create` is False."""
    if settings.keys:
        keys = tuple(
            _parse_key(key, f"HARVESTER_KEY entry {i + 1}") for i, key in enumerate(settings.keys)
        )
        return KeySource(keys, None)
    path = default_key_path(settings)
    if path.exists():
        return KeySource(read_key_file(path), path)
    if settings.key_file is not None:
        raise ConfigError(f"HARVESTER_KEY_FILE {path} does not exist")
    if not create:
        return None
    write_key_file(path, (Fernet.generate_key(),), exclusive=True)
    return KeySource(read_key_file(path), path)


def load_keyring(settings: Settings, *, create: bool) -> KeyRing | None:
    source = load_key_source(settings, create=create)
    return KeyRing(source) if source is not None else None


def read_key_file(path: Path) -> tuple[bytes, ...]:
    """Keys from a file, refusing one that group or others can read.

    Only a regular file is read, and never waits: it is opened non-blocking (a FIFO would block
    the open until a writer came, and hang `auth login`, `run` or `keys rotate`) and refused
    unless fstat says it is a regular file; at most MAX_KEY_FILE_BYTES of it."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"key file {path} is not a regular file ({kind_of(info.st_mode)}): not read"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"key file {path} is readable by group or others (mode {mode:04o}); "
                f"run `chmod 600 {path}`"
            )
        data = read_at_most(fd, MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"key file {path} is larger than {MAX_KEY_FILE_BYTES:,} bytes: not read")
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise ConfigError(f"key file {path} is not a text file of Fernet keys") from None
    entries = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not entries:
        raise ConfigError(f"key file {path} holds no key")
    return tuple(_parse_key(k, f"key file {path} line {i + 1}") for i, k in enumerate(entries))


def write_key_file(path: Path, keys: tuple[bytes, ...], *, exclusive: bool = False) -> None:
    """Write keys with mode 0600 from the first byte; replace atomically unless `exclusive`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(key.decode("ascii") + "\n" for key in keys).encode("ascii")
    target = path if exclusive else path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    try:
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)
    if not exclusive:
        os.replace(target, path)


def rotate_keys(settings: Settings, reencrypt: Callable[[KeyRing], int]) -> str:
    """Put a new key first, have `reencrypt` re-encrypt every secret (all or nothing), then drop
    the old keys; say what was done.

    With a key file, a new key is generated and put first; once everything is re-encrypted the
    old keys are dropped from the file. With HARVESTER_KEY, the first key of the list is the
    newest: put the new key first, rotate, then remove the old ones yourself.
    """
    source = load_key_source(settings, create=False)
    if source is None:
        return "no encryption key exists yet: nothing to rotate"
    if source.path is not None:
        new_source = KeySource((generate_key(), *source.keys), source.path)
        write_key_file(source.path, new_source.keys)
        # if re-encrypting fails the file keeps both keys: a process may already have saved
        # tokens with the new one, and an extra key is harmless
        count = reencrypt(KeyRing(new_source))
        write_key_file(source.path, new_source.keys[:1])
        return f"re-encrypted {count} stored secret(s) with a new key in {source.path}"
    count = reencrypt(KeyRing(source))
    return (
        f"re-encrypted {count} stored secret(s) with the first key of HARVESTER_KEY; "
        "the other keys can now be removed"
    )


def generate_key() -> bytes:
    return Fernet.generate_key()


def _parse_key(text: str | bytes, where: str) -> bytes:
    try:
        key = text.encode("ascii") if isinstance(text, str) else text
        Fernet(key)
    except (ValueError, TypeError):  # UnicodeEncodeError is a ValueError
        raise ConfigError(
            f"{where} is not a valid Fernet key (44 characters of url-safe base64); "
            "make one with `harvester keys generate`"
        ) from None
    return key
