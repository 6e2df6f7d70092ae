"""Where ``autan pull`` finds a GGUF: a short name of a recommended Mistral-family GGUF, a
Hugging Face repository (or one of its files), or any HTTP(S) URL.

Hugging Face is reached at ``HF_ENDPOINT`` (as ``huggingface_hub`` reads it; a mirror, or a
local server in tests) with ``HF_TOKEN`` for gated repositories."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from autan.cli.command_group import CommandLineError

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_QUANT = "Q4_K_M"

# Short names: the repository of each recommended GGUF (quantized by bartowski, whose files
# are named REPO-QUANT.gguf); docs/models.md lists them.
SHORT_NAMES: dict[str, str] = {
    "mistral-7b": "bartowski/Mistral-7B-Instruct-v0.3-GGUF",
    "mistral-nemo": "bartowski/Mistral-Nemo-Instruct-2407-GGUF",
    "ministral-8b": "bartowski/Ministral-8B-Instruct-2410-GGUF",
    "mistral-small": "bartowski/Mistral-Small-24B-Instruct-2501-GGUF",
    "codestral": "bartowski/Codestral-22B-v0.1-GGUF",
    "mathstral": "bartowski/mathstral-7B-v0.1-GGUF",
}

_REPO = re.compile(
    r"^(?:hf\.co/|huggingface\.co/|hf://)?([\w.-]+/[\w.-]+)(?:/(.+\.gguf))?(?::([\w.-]+))?$"
)


@dataclass(frozen=True)
class ModelSource:
    url: str
    filename: str
    sha256: str | None = None  # known from the repository's LFS pointer
    size: int | None = None


def hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", HF_DEFAULT_ENDPOINT).rstrip("/")


def hf_headers() -> dict[str, str]:
    token = os.environ.get("HF_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def resolve(name: str, *, quant: str = DEFAULT_QUANT, revision: str = "main") -> ModelSource:
    """What to download for ``name``: a URL as it is; a repository's file (``owner/repo/
    file.gguf``), or its file of quantization ``quant`` (``owner/repo`` or ``owner/repo:Q8_0``),
    found in the repository's file list with its sha256."""
    if name.startswith(("http://", "https://")):
        filename = os.path.basename(urlparse(name).path)
        if not filename.endswith(".gguf"):
            raise CommandLineError(f"{name} does not name a .gguf file")
        return ModelSource(name, filename)
    repo_name = SHORT_NAMES.get(name.split(":")[0].lower())
    if repo_name is not None:
        name = repo_name + (name[name.index(":") :] if ":" in name else "")
    match = _REPO.match(name)
    if match is None:
        known = ", ".join(SHORT_NAMES)
        raise CommandLineError(
            f"{name!r} is neither a URL, a Hugging Face repository (owner/repo[:QUANT] or "
            f"owner/repo/file.gguf) nor a short name ({known})"
        )
    repo, path, tag = match.groups()
    files = _repository_files(repo, revision)
    if path is None:
        wanted = (tag or quant).lower()
        candidates = [f for f in files if f["path"].lower().endswith(f"{wanted}.gguf")]
        if not candidates:
            ggufs = ", ".join(f["path"] for f in files if f["path"].endswith(".gguf")) or "none"
            raise CommandLineError(f"{repo} has no {wanted.upper()} GGUF; its GGUF files: {ggufs}")
        entry = min(candidates, key=lambda f: len(f["path"]))
    else:
        named = [f for f in files if f["path"] == path]
        if not named:
            raise CommandLineError(f"{repo} has no file {path}")
        entry = named[0]
    lfs = entry.get("lfs") or {}
    url = f"{hf_endpoint()}/{repo}/resolve/{quote(revision)}/{quote(entry['path'])}"
    return ModelSource(url, os.path.basename(entry["path"]), lfs.get("oid"), entry.get("size"))


def _repository_files(repo: str, revision: str) -> list[dict[str, Any]]:
    url = f"{hf_endpoint()}/api/models/{repo}/tree/{quote(revision)}"
    try:
        r = httpx.get(url, headers=hf_headers(), params={"recursive": "true"}, timeout=30)
    except httpx.TransportError as e:
        raise CommandLineError(f"cannot reach {hf_endpoint()}: {e} (HF_ENDPOINT sets it)") from e
    if r.status_code in (401, 403):
        raise CommandLineError(f"{repo} refused access ({r.status_code}): set HF_TOKEN")
    if r.status_code == 404:
        raise CommandLineError(f"no repository {repo} (revision {revision}) at {hf_endpoint()}")
    if r.status_code != 200:
        raise CommandLineError(f"{hf_endpoint()} answered {r.status_code} for {repo}")
    return [f for f in r.json() if f.get("type") == "file"]
