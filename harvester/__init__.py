"""harvester: a scheduled harvester of iRacing's /data API into a SQLite archive.

Use it from Python with the same stored session as the service::

    import harvester

    with harvester.connect() as api:
        me = api.get("/data/member/info")
"""

from ._api import Api, RateLimit, Result, Session, connect
from ._config.settings import Settings, load_settings
from ._core.errors import (
    ApiError,
    AuthError,
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
from ._version import __version__

__all__ = [
    "Api",
    "ApiError",
    "AuthError",
    "BadRequest",
    "Cancelled",
    "ConfigError",
    "Forbidden",
    "HarvesterError",
    "IncompleteResult",
    "InvalidClient",
    "Maintenance",
    "NotFound",
    "NotLoggedIn",
    "PasswordGrantBlocked",
    "RateLimit",
    "RateLimited",
    "Result",
    "ServerError",
    "Session",
    "Settings",
    "TokenKeyError",
    "__version__",
    "connect",
    "load_settings",
]
