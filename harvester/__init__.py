"""harvester: a scheduled harvester of iRacing's /data API into a SQLite or PostgreSQL archive.

Use it from Python with the same stored session as the service::

    import harvester

    with harvester.connect() as api:
        me = api.get("/data/member/info")

This module is the whole library API: every name a script meets, and every error it can catch
by name. The packages behind it (`harvester._fetch`, `harvester._store`, ...) are private.
"""

from ._api import Api, RateLimit, Result, Session, connect
from ._config.jobs import JobsError
from ._config.settings import Settings, load_settings
from ._core.errors import (
    ApiError,
    AuthError,
    BadCatalogue,
    BadRequest,
    Cancelled,
    ConfigError,
    Forbidden,
    HarvesterError,
    IncompleteResult,
    InvalidClient,
    Maintenance,
    NotFound,
    NotLoggedIn,
    PasswordGrantBlocked,
    RateLimited,
    ServerError,
    TokenKeyError,
)
from ._core.posix import UnsupportedPlatform
from ._core.shapes import Part
from ._core.text import ParamValue
from ._fetch.bounded import BodyTooLarge, DeadlineExceeded
from ._fetch.data_client import LinkExpired
from ._fetch.linkpolicy import LinkRefused
from ._oauth.endpoint import TokenEndpointUnreachable, TokenRejected
from ._oauth.session import RefreshTokenSpent
from ._version import __version__

__all__ = [
    "Api",
    "ApiError",
    "AuthError",
    "BadCatalogue",
    "BadRequest",
    "BodyTooLarge",
    "Cancelled",
    "ConfigError",
    "DeadlineExceeded",
    "Forbidden",
    "HarvesterError",
    "IncompleteResult",
    "InvalidClient",
    "JobsError",
    "LinkExpired",
    "LinkRefused",
    "Maintenance",
    "NotFound",
    "NotLoggedIn",
    "ParamValue",
    "Part",
    "PasswordGrantBlocked",
    "RateLimit",
    "RateLimited",
    "RefreshTokenSpent",
    "Result",
    "ServerError",
    "Session",
    "Settings",
    "TokenEndpointUnreachable",
    "TokenKeyError",
    "TokenRejected",
    "UnsupportedPlatform",
    "__version__",
    "connect",
    "load_settings",
]

for _name in __all__:  # the API reads as harvester.X: tracebacks and docs name the face
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
