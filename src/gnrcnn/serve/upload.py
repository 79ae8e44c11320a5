"""Request bodies -> image bytes, entirely in memory: nothing from a request reaches the filesystem.

Starlette's own form parser spools file parts over 1 MB to a temporary file; this reads the body
itself (refusing it past the size limit as it arrives) and parses multipart with python-multipart's
callback parser into memory.
"""

from __future__ import annotations

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

ACCEPTED = "send multipart/form-data (curl -F image=@photo.jpg) or the raw file with Content-Type image/* or "
ACCEPTED += "application/octet-stream"


class RequestError(Exception):
    """A request that cannot be answered: its status, a one-line reason and any extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def body_kind(content_type: str | None) -> tuple[str, bytes | None]:
    """("multipart", boundary) or ("raw", None) for an accepted Content-Type; 415 for any other."""
    ctype, params = parse_options_header(content_type)
    kind = ctype.decode("latin-1").lower()
    if kind == "multipart/form-data":
        if not params.get(b"boundary"):
            raise RequestError(400, "multipart/form-data without a boundary parameter")
        return "multipart", params[b"boundary"]
    if kind.startswith("image/") or kind == "application/octet-stream":
        return "raw", None
    raise RequestError(415, f"Content-Type {kind or '(none)'} is not an image upload: {ACCEPTED}")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, f"Content-Length {declared[:20]!r} is not a number")
        if int(declared) > limit:
            raise RequestError(413, _too_large(int(declared), limit))
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise RequestError(413, _too_large(total, limit, "over"))
            chunks.append(chunk)
    except ClientDisconnect:  # the client went away mid-upload: its slot is freed, no traceback in the log
        raise RequestError(400, f"the client disconnected after {total} bytes of the upload") from None
    return b"".join(chunks)


def _too_large(size: int, limit: int, prefix: str = "") -> str:
    mb = 1024 * 1024
    size_text = f"{prefix} {size / mb:.1f} MB".strip()
    return f"upload of {size_text} is over the limit of {limit / mb:.1f} MB (--max-upload-mb)"


def image_bytes(kind: str, boundary: bytes | None, body: bytes) -> tuple[bytes, str]:
    """(image bytes, a name for messages) from a body of the kind ``body_kind`` accepted."""
    if not body:
        raise RequestError(400, f"empty body: no image ({ACCEPTED})")
    if kind == "raw":
        return body, "upload"
    assert boundary is not None
    return _file_part(body, boundary)


def _file_part(body: bytes, boundary: bytes) -> tuple[bytes, str]:
    """The first part named "image" or carrying a filename."""
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    field, value, ended = bytearray(), bytearray(), []

    def header_end() -> None:
        parts[-1][0][bytes(field).lower()] = bytes(value)
        field.clear()
        value.clear()

    callbacks = {
        "on_part_begin": lambda: parts.append(({}, bytearray())),
        "on_header_field": lambda data, start, end: field.extend(data[start:end]),
        "on_header_value": lambda data, start, end: value.extend(data[start:end]),
        "on_header_end": header_end,
        "on_part_data": lambda data, start, end: parts[-1][1].extend(data[start:end]),
        "on_end": lambda: ended.append(True),
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as e:
        raise RequestError(400, f"malformed multipart body ({str(e)[:100]})") from None
    if not ended:
        raise RequestError(400, "malformed multipart body (it ends before its closing boundary)")
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get(b"content-disposition"))
        filename = disposition.get(b"filename")
        if disposition.get(b"name") == b"image" or filename is not None:
            name = _printable(filename.decode("utf-8", "replace")) if filename else "upload"
            if not data:
                raise RequestError(400, f"{name}: empty file part, no image")
            return bytes(data), name or "upload"
    raise RequestError(400, "multipart body has no file part (name it 'image': curl -F image=@photo.jpg)")


def _printable(name: str) -> str:
    return "".join(c for c in name if c.isprintable())[:80]
