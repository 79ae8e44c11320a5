"""Weights by name or URL: downloaded once into a cache and checked against the hash their name carries.

``resolve`` turns what a user passes as weights into a local file (or None for ``"none"``): a file
on the Hugging Face Hub (``hf://owner/repo[@revision][/file]``, through ``hf_hub.py``); a file that
exists; a zoo config name (``mask-rcnn_r50_fpn_gn-all_2x_coco``), a backbone name
(``open-mmlab://detectron/resnet50_gn``) or a zoo file name; or an ``http(s)://`` URL. A download
lands in ``<cache>/<the URL's file name>``: torch's hub cache (``torch.hub.get_dir()/checkpoints``,
which honours ``TORCH_HOME`` and is where torchvision keeps its weights) or ``$GNRCNN_CACHE``. It
streams into a temporary file beside that place, hashed on the way, and is renamed into place only
when complete and matching the SHA-256 prefix of its name (MMDetection's and torch.hub's
``name-<hex>.pth`` convention): a partial or mismatched download is never used or kept. A file in
the cache is used without any network access. ``GNRCNN_WEIGHTS_MIRROR=http://host:port`` replaces
the scheme and host of every zoo URL (the path is kept): for air-gapped sites and tests.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import socket
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from .. import zoo
from ..errors import GnrcnnError
from ..fileio import atomic_open
from ..progress import progress
from . import hf_hub

HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
TIMEOUT_S = 30.0
CHUNK = 1 << 20
MIRROR_ENV = "GNRCNN_WEIGHTS_MIRROR"
CACHE_ENV = "GNRCNN_CACHE"


def cache_dir() -> Path:
    """Where downloads are kept: ``$GNRCNN_CACHE``, else torch's hub cache (``$TORCH_HOME/hub/checkpoints``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def mirrored(url: str) -> str:
    """``url`` with the scheme and host of ``$GNRCNN_WEIGHTS_MIRROR`` (and its path as a prefix), if set."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    m = urlsplit(mirror if "://" in mirror else f"http://{mirror}")
    if m.scheme not in ("http", "https") or not m.netloc:
        raise GnrcnnError(f"{MIRROR_ENV}={mirror!r}: expected http://host:port")
    u = urlsplit(url)
    return urlunsplit((m.scheme, m.netloc, m.path.rstrip("/") + u.path, u.query, ""))


def zoo_source(spec: str) -> tuple[str, str | None] | None:
    """The published URL and pinned full SHA-256 (if any) of a zoo config, file or backbone name (or URL)."""
    for e in zoo.ZOO:
        if spec in (e.config, file_name(e.url), e.url):
            return e.url, e.sha256
    for b in zoo.BACKBONES:
        if spec in (b.name, file_name(b.url), b.url):
            return b.url, None
    return None


def file_name(url: str) -> str:
    return Path(urlsplit(url).path).name


def resolve(spec: str | Path) -> Path | None:
    """A local weights file for ``spec`` (downloading it if needed), or None for ``"none"``."""
    text = str(spec)
    if text.lower() == "none":
        return None
    if text.startswith(hf_hub.PREFIX):
        return Path(hf_hub.download(text))
    if Path(text).exists():
        return Path(text)
    source = zoo_source(text)
    if source is not None:
        url, sha256 = source
        return fetch(mirrored(url), sha256=sha256, name=file_name(url))
    if text.startswith(("http://", "https://")):
        return fetch(text)
    if "://" in text:
        names = ", ".join(b.name for b in zoo.BACKBONES)
        raise GnrcnnError(f"{text}: unknown weights name (backbones: {names}; or give an http(s):// URL)")
    raise GnrcnnError(f"{text}: weights file not found (nor a zoo name: `gnrcnn zoo` lists them; or give an "
                      "http(s):// URL, or 'none' for random initialisation)")  # fmt: skip


def fetch(url: str, sha256: str | None = None, name: str | None = None, cache: str | Path | None = None) -> Path:
    """The cached copy of ``url``, downloaded first if missing; checked against the SHA-256 prefix in its
    name (or the full ``sha256`` given). Failures are one line naming the URL, the reason and the path
    where the file can be put by hand."""
    name = name or file_name(url)
    if not name:
        raise GnrcnnError(f"{url}: the URL names no file")
    dest = Path(cache) if cache is not None else cache_dir()
    dest = dest / name
    if dest.is_file():
        return dest
    match = HASH_IN_NAME.search(name)
    expected = (sha256 or (match.group(1) if match else "")).lower()
    print(f"downloading {url} -> {dest}", file=sys.stderr)
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "gnrcnn"}),
                                          timeout=TIMEOUT_S)  # fmt: skip
    except urllib.error.HTTPError as e:
        raise _failed(url, f"HTTP {e.code} {e.reason}", dest) from None
    except urllib.error.URLError as e:
        raise _failed(url, reason(e.reason), dest) from None
    except (OSError, http.client.HTTPException) as e:
        raise _failed(url, reason(e), dest) from None
    with response, atomic_open(dest, "downloaded weights", unique=True) as f:
        total = int(response.headers.get("Content-Length") or 0) or None
        digest, size = _stream(response, f, total, url, dest)
        if total is not None and size != total:
            raise _failed(url, f"connection closed after {size} of {total} bytes (the partial file was discarded)",
                          dest)  # fmt: skip
        if expected and not digest.startswith(expected):
            raise _failed(url, f"hash mismatch: SHA-256 {digest[:16]}... is not the {expected[:16]} its name "
                          "promises (the download was discarded)", dest)  # fmt: skip
    if expected:
        print(f"saved {dest} (SHA-256 checked: {expected[:16]})", file=sys.stderr)
    else:
        print(f"warning: {name} carries no SHA-256 in its name: the download could not be checked "
              f"(its SHA-256 is {digest}); saved {dest}", file=sys.stderr)  # fmt: skip
    return dest


def _stream(response: IO[bytes], out: IO[bytes], total: int | None, url: str, dest: Path) -> tuple[str, int]:
    """Copy the response body to ``out`` with a progress bar: (sha256 hex digest, bytes)."""
    h, size = hashlib.sha256(), 0
    with progress(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name, file=sys.stderr,
              leave=False, mininterval=0.5) as bar:  # fmt: skip
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as e:
                raise _failed(url, f"connection lost after {size} bytes ({reason(e)})", dest) from None
            if not chunk:
                break
            h.update(chunk)
            try:
                out.write(chunk)
            except OSError as e:
                raise _failed(url, reason(e), dest) from None
            size += len(chunk)
            bar.update(len(chunk))
    try:  # written out here, so that a full disk is reported with the URL like any other failure
        out.flush()
        os.fsync(out.fileno())
    except OSError as e:
        raise _failed(url, reason(e), dest) from None
    return h.hexdigest(), size


def reason(e: BaseException | str) -> str:
    """A network or disk error in a few words."""
    if isinstance(e, str):
        return e
    if isinstance(e, socket.gaierror):
        return "host not found (no network, or no DNS)"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (is the server up?)"
    if isinstance(e, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(e, ssl.SSLError):
        return f"TLS error ({e.reason or e})"
    if isinstance(e, http.client.IncompleteRead):
        return "connection closed early"
    if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no route to host (offline?)"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def _failed(url: str, why: str, dest: Path) -> GnrcnnError:
    return GnrcnnError(f"cannot download {url}: {why}; to use it offline, put the file at {dest}")
