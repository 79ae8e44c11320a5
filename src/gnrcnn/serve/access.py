"""The API key: every endpoint but /health, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = ("/health",)
MESSAGE = "missing or wrong API key (send the header 'Authorization: Bearer KEY' or 'X-API-Key: KEY')"


def offered_keys(headers: Headers) -> list[bytes]:
    """The keys a request offers: X-API-Key, a Bearer token, or the password of Basic auth (the page's
    way: the browser asks for it once and sends it with every request, the page's own included)."""
    keys = [headers["x-api-key"].encode()] if "x-api-key" in headers else []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        keys.append(value.strip().encode())
    elif scheme.lower() == "basic":
        with contextlib.suppress(binascii.Error, ValueError):
            keys.append(base64.b64decode(value.strip(), validate=True).partition(b":")[2])
    return keys


class ApiKeyGuard:
    """ASGI middleware: 401 (with a Basic challenge, so a browser asks) unless the key matches."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key.encode() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        # compare_digest: the time taken does not depend on how much of the key was right.
        if any(hmac.compare_digest(k, self.key) for k in offered_keys(Headers(scope=scope))):
            await self.app(scope, receive, send)
            return
        challenge = {"WWW-Authenticate": 'Basic realm="gnrcnn serve", charset="UTF-8"'}
        await JSONResponse({"error": MESSAGE}, 401, headers=challenge)(scope, receive, send)
