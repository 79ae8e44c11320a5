"""``hf://owner/repo[@revision][/file]``: weights from the Hugging Face Hub, through ``huggingface_hub`` itself.

``hf_hub_download`` does the work: its cache (``HF_HUB_CACHE``, ``HF_HOME``; shared with every other
Hub library), revisions (a branch, a tag or a commit), ``HF_ENDPOINT`` (a mirror) and
``HF_HUB_OFFLINE`` (the cache only, no network). Both variables are read when the weights are
resolved, not when the library was imported, so a test or a notebook may set them at any time. The
file defaults to ``model.safetensors``, what ``gnrcnn export --format hub`` writes; it is read by
content like any other weights file, so no code in it runs.
"""

from __future__ import annotations

import os
import re

from ..errors import GnrcnnError

PREFIX = "hf://"
DEFAULT_FILE = "model.safetensors"
_SPEC = re.compile(r"^hf://(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<rev>[^/]+))?(?:/(?P<file>.+))?$")


def parse(spec: str) -> tuple[str, str | None, str]:
    """(repo id, revision or None, file) of ``hf://owner/repo[@revision][/file]``."""
    m = _SPEC.match(spec)
    if m is None:
        raise GnrcnnError(
            f"{spec}: expected hf://owner/repo, hf://owner/repo@revision or hf://owner/repo[@revision]/file"
        )
    return m["repo"], m["rev"], m["file"] or DEFAULT_FILE


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download(spec: str) -> str:
    """The local path of the file ``spec`` names: from the Hub cache, downloaded first if it is not there."""
    repo, revision, filename = parse(spec)
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise GnrcnnError(f"{spec}: loading from the Hugging Face Hub needs huggingface_hub "
                          "(pip install 'gnrcnn[hub]')") from None  # fmt: skip
    at = f"{repo}@{revision or 'main'}"
    try:
        endpoint, cache = os.environ.get("HF_ENDPOINT") or None, os.environ.get("HF_HUB_CACHE") or None
        return hf_hub_download(repo, filename, revision=revision, endpoint=endpoint, cache_dir=cache,
                               local_files_only=_offline())  # fmt: skip
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if _offline() else "the Hub cannot be reached"
        raise GnrcnnError(f"{spec}: {filename} of {at} is not in the Hugging Face cache and {why}") from None
    except RevisionNotFoundError:
        raise GnrcnnError(f"{spec}: {repo} has no revision '{revision}' (a branch, tag or commit)") from None
    except EntryNotFoundError:
        raise GnrcnnError(f"{spec}: {at} has no file '{filename}'") from None
    except RepositoryNotFoundError:
        raise GnrcnnError(
            f"{spec}: no repository {repo} on the Hub (or it is private: log in with `hf auth login`)"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise GnrcnnError(f"{spec}: cannot download {filename} of {at} ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:160]})") from None  # fmt: skip
