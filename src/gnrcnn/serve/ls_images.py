"""A Label Studio task's image, as bytes: from a local folder when it is there, else from Label Studio.

A task names its image as Label Studio serves it: ``/data/upload/3/1a2b3c4d-photo.png``,
``/data/local-files/?d=dir/photo.png`` or a full URL. With ``--images DIR`` (the uploads' folder, or the
local files' document root) the file is read from there, found as ``import-data --format labelstudio``
finds it. Otherwise it is fetched from Label Studio at the address and with the token that its /setup
call sent (``hostname``, ``access_token``: the project owner's legacy API token), or
``--label-studio-url`` and ``$LABEL_STUDIO_API_KEY``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..data.importers.labelstudio import candidates

FETCH_TIMEOUT_S = 30.0


class ImageFetchError(Exception):
    """The task's image cannot be had; the message is one line."""


@dataclass(frozen=True)
class ImageSource:
    url: str | None  # Label Studio's address, e.g. http://localhost:8080
    token: str | None  # its API token (sent as "Authorization: Token ...")
    images: Path | None  # a local folder holding the images


def image_bytes(ref: str, source: ImageSource, limit: int) -> bytes:
    """The bytes of the image ``ref`` names (at most ``limit``), or ``ImageFetchError``."""
    if source.images is not None:
        local = next((p for p in candidates(ref, source.images) if p.is_file()), None)
        if local is not None:
            if local.stat().st_size > limit:
                raise ImageFetchError(f"{local} is over the limit of {limit / 2**20:.1f} MB (--max-upload-mb)")
            return local.read_bytes()
    if ref.startswith(("http://", "https://")):
        url = ref
    elif source.url:
        url = source.url.rstrip("/") + "/" + ref.lstrip("/")
    else:
        where = f"not under --images {source.images}, and " if source.images else ""
        raise ImageFetchError(f"image {ref} is {where}Label Studio's address is unknown (no /setup call; give "
                              "--label-studio-url)")  # fmt: skip
    headers = {"Authorization": f"Token {source.token}"} if source.token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=FETCH_TIMEOUT_S) as r:
            data = r.read(limit + 1)
    except urllib.error.HTTPError as e:
        hint = " (is the API token right? legacy tokens must be enabled)" if e.code in (401, 403) else ""
        raise ImageFetchError(f"image {url}: HTTP {e.code} {e.reason}{hint}") from None
    except (urllib.error.URLError, OSError) as e:
        raise ImageFetchError(f"image {url}: {getattr(e, 'reason', e)}") from None
    if len(data) > limit:
        raise ImageFetchError(f"image {url} is over the limit of {limit / 2**20:.1f} MB (--max-upload-mb)")
    return data
