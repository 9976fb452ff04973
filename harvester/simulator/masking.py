"""How iRacing's token endpoint checks a masked secret, written from iRacing's description
(base64(sha256(secret + lower(trim(identifier))))) apart from harvester's own masking, so that
the simulator is an independent judge of the client's."""

from __future__ import annotations

import base64
import hashlib


def mask(secret: str, identifier: str) -> str:
    """The identifier is the client id for the client secret, the username for the password."""
    salted = secret + identifier.strip().lower()
    return base64.b64encode(hashlib.sha256(salted.encode("utf-8")).digest()).decode("ascii")
