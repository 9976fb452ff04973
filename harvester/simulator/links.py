"""The simulated S3 behind /data's links: pre-signed, expiring URLs, not rate limited.

A link answers 403 with S3's XML once expired (or when its signature is wrong) and 400 when the
request carries an `Authorization` header, as S3 does when a client sends its Bearer token along.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from ._time import Clock, iso
from .messages import SimRequest, SimResponse, text_response

PREFIX = "/s3"

_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
    "</Message><RequestId>{rid}</RequestId><HostId>{host}</HostId></Error>"
)


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    content_type: str
    keep_until: float


class ObjectStore:
    """Objects by path, served through signed URLs; expired objects are forgotten over time."""

    def __init__(self, clock: Clock, base_url: str) -> None:
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self._objects: dict[str, StoredObject] = {}
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)
        self.downloads = 0

    def put_link(self, endpoint: str, body: bytes, content_type: str, lifetime: int) -> str:
        """A one-off object (a link or data_url target): its signed URL."""
        path = f"{PREFIX}/production/data-server/cache/data-services/{endpoint}/{uuid.uuid4()}"
        self._put(path, body, content_type, lifetime)
        return self.base_url + path + "?" + self._sign(path, lifetime)

    def put_chunks(
        self, kind: str, chunks: list[bytes], lifetime: int, lived: str = "short_lived"
    ) -> tuple[str, list[str]]:
        """Chunk files under one folder: (base_download_url, signed file names). `lived` names
        the cache they sit in: short_lived (searches) or long_lived (standings, laps, logs)."""
        # the folder is named after the content, as the real service's cache is: the same
        # result asked again points at the same files (with fresh signatures)
        folder = hashlib.sha256(kind.encode() + b"".join(chunks)).hexdigest()
        base_path = f"{PREFIX}/members/messaging-services/{lived}/{kind}/{folder}/"
        names = []
        for chunk in chunks:
            name = hashlib.sha256(chunk).hexdigest() + ".json"
            self._put(base_path + name, chunk, "application/json", lifetime)
            names.append(name + "?" + self._sign(base_path + name, lifetime))
        return self.base_url + base_path, names

    def handle(self, request: SimRequest) -> SimResponse:
        if request.header("authorization") is not None:
            return self._xml(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        params = dict(parse_qsl(request.query))
        expected = self._signature(
            request.path, params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
        )
        if not hmac.compare_digest(params.get("X-Amz-Signature", ""), expected):
            return self._xml(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if self.clock.now() > signed_at.timestamp() + int(params["X-Amz-Expires"]):
            return self._xml(403, "AccessDenied", "Request has expired")
        with self._lock:
            stored = self._objects.get(request.path)
            self.downloads += 1
        if stored is None:
            return self._xml(404, "NoSuchKey", "The specified key does not exist.")
        return SimResponse(
            200,
            {"content-type": stored.content_type, "x-amz-request-id": secrets.token_hex(8)},
            stored.body,
        )

    def expires_iso(self, lifetime: int) -> str:
        return iso(self.clock.now() + lifetime)

    def _put(self, path: str, body: bytes, content_type: str, lifetime: int) -> None:
        now = self.clock.now()
        with self._lock:
            if len(self._objects) > 2000:
                self._objects = {k: v for k, v in self._objects.items() if v.keep_until > now}
            self._objects[path] = StoredObject(body, content_type, now + 2 * lifetime)

    def _sign(self, path: str, lifetime: int) -> str:
        date = datetime.fromtimestamp(self.clock.now(), tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        credential = quote(f"ASIASIMULATOR/{date[:8]}/us-east-1/s3/aws4_request", safe="")
        signature = self._signature(path, date, str(lifetime))
        return (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-SignedHeaders=host"
            f"&X-Amz-Expires={lifetime}&X-Amz-Credential={credential}"
            f"&X-Amz-Signature={signature}"
        )

    def _signature(self, path: str, date: str, expires: str) -> str:
        message = f"{path}\n{date}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    @staticmethod
    def _xml(status: int, code: str, message: str) -> SimResponse:
        body = _XML.format(
            code=code, message=message, rid=secrets.token_hex(8).upper(), host=secrets.token_hex(16)
        )
        return text_response(status, body, "application/xml")
