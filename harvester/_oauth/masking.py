"""iRacing's credential masking, as the token endpoint expects it (the simulator checks it with
an implementation of its own)."""

from __future__ import annotations

import base64
import hashlib


def mask(secret: str, identifier: str) -> str:
    """Mask a secret the way iRacing's token endpoint expects.

    base64(sha256(utf8(secret + lower(trim(identifier))))): the identifier is the client id
    when masking the client secret and the username when masking the password. Only the
    identifier is normalised; the secret is used exactly as given.
    """
    digest = hashlib.sha256((secret + identifier.strip().lower()).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")
