"""One declared model: where its weights are, the names it answers to, what it can do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autan.models.packaged import PACKAGED_MODELS, packaged_model_path

DeclaredFormat = Literal["auto", "template", "mistral"]
ModelKind = Literal["chat", "embedding"]

# What a chat model can do unless its entry says otherwise.
CHAT_CAPABILITIES = {"completion_chat": True, "function_calling": True}


class Capabilities(BaseModel):
    """The capabilities a model card advertises (a subset of Mistral's ``ModelCapabilities``)."""

    model_config = ConfigDict(extra="forbid")

    completion_chat: bool = False
    function_calling: bool = False
    completion_fim: bool = False
    fine_tuning: bool = False
    vision: bool = False
    classification: bool = False


BackendName = Literal["openai", "mistral"]
# How a deployment is asked to enforce a JSON schema: ``json_schema`` as OpenAI defines it (vLLM,
# SGLang, llama-server, La Plateforme); ``json_object_schema``, a ``json_object`` format with the
# schema beside it (llama-cpp-python's server, llama-server); ``none``: not asked, only checked.
StructuredOutputs = Literal["json_schema", "json_object_schema", "none"]


class Deployment(BaseModel):
    """One place a routed model is answered: a server speaking the OpenAI (``openai``) or the
    Mistral (``mistral``) API. ``url`` is what the official SDKs take: the base URL ending in
    ``/v1`` for ``openai``, the ``server_url`` for ``mistral``. The API key is read from the
    environment variable ``api_key_env`` when a request is sent: it is never in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: BackendName
    url: str = Field(min_length=1, pattern=r"^https?://")
    upstream_model: str = Field(min_length=1)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    weight: float = Field(default=1.0, gt=0)
    max_concurrent: int | None = Field(default=None, ge=1)
    context_length: int | None = Field(default=None, ge=64)
    # Unset: the model's capabilities. A deployment that lacks one is not sent such requests.
    capabilities: Capabilities | None = None
    structured_outputs: StructuredOutputs = "json_schema"
    price_input: float | None = Field(default=None, ge=0, description="per million tokens")
    price_output: float | None = Field(default=None, ge=0, description="per million tokens")
    connect_timeout: float = Field(default=5.0, gt=0, description="seconds")
    first_token_timeout: float = Field(default=120.0, gt=0, description="seconds")
    token_timeout: float = Field(default=60.0, gt=0, description="seconds between tokens")
    total_timeout: float = Field(default=600.0, gt=0, description="seconds for the request")

    @property
    def name(self) -> str:
        """How logs, ``/health`` and the usage ledger name it: backend, host and model."""
        host = self.url.split("://", 1)[1].rstrip("/")
        return f"{self.backend}:{host}/{self.upstream_model}"


_QUANTIZATION_TAG = re.compile(r"[.-](i?q\d\w*|bf16|f16|f32)$", re.IGNORECASE)


class ModelCard(BaseModel):
    """An entry of the models file. Declaring a model does not load it.

    ``context_length`` is the context each sequence gets (prompt + output); unset, it is the
    engine's default capped at what the GGUF was trained with. ``parallel`` and ``threads``
    unset take the server's flags.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, pattern=r"^[^\s/]+(/[^\s/]+)*$")
    aliases: tuple[str, ...] = ()
    path: Path | None = None
    packaged: str | None = None
    kind: ModelKind = "chat"
    format: DeclaredFormat = "auto"
    tokenizer: str | None = None
    description: str | None = None
    context_length: int | None = Field(default=None, ge=64)
    parallel: int | None = Field(default=None, ge=1, le=256)
    threads: int | None = Field(default=None, ge=1)
    price_input: float = Field(default=0.0, ge=0, description="per million prompt tokens")
    price_output: float = Field(default=0.0, ge=0, description="per million completion tokens")
    preload: bool = False
    capabilities: Capabilities = Field(default_factory=Capabilities)
    # A LoRA adapter GGUF applied to the weights at ``path`` (fine-tuned models).
    adapter: Path | None = None
    # The only workspace whose keys may use it (a fine-tuned model); None: every workspace.
    workspace: str | None = None
    # Where a routed model is answered (no ``path`` nor ``packaged`` then).
    deployments: tuple[Deployment, ...] = ()
    # Other served models tried, in order, when every deployment of this one fails.
    fallbacks: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_capabilities(cls, data: Any) -> Any:
        """Chat models can chat and call functions unless their entry turns it off."""
        if isinstance(data, dict) and data.get("kind", "chat") == "chat":
            given = data.get("capabilities")
            if given is None or isinstance(given, dict):
                data = {**data, "capabilities": {**CHAT_CAPABILITIES, **(given or {})}}
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelCard:
        if self.deployments:
            if self.path is not None or self.packaged is not None:
                raise ValueError(
                    "a model with `deployments` is routed: it takes no `path` nor `packaged`"
                )
            names = [d.name for d in self.deployments]
            if len(set(names)) != len(names):
                raise ValueError("a deployment is listed twice (same backend, url and model)")
        elif (self.path is None) == (self.packaged is None):
            raise ValueError(
                "give exactly one of `path` (a GGUF file), `packaged`, or `deployments`"
            )
        if self.id in self.fallbacks:
            raise ValueError("a model cannot be its own fallback")
        if self.packaged is not None and self.packaged not in PACKAGED_MODELS:
            raise ValueError(
                f"no packaged model is called {self.packaged!r}; "
                f"packaged models: {', '.join(PACKAGED_MODELS)}"
            )
        if self.id in self.aliases:
            raise ValueError(f"alias {self.id!r} repeats the model id")
        if len(set(self.aliases)) != len(self.aliases):
            raise ValueError("an alias is listed twice")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    @property
    def routed(self) -> bool:
        """Answered by remote deployments, not by this server's engine."""
        return bool(self.deployments)

    @staticmethod
    def id_for(gguf: Path) -> str:
        """The file's name without its quantization tag, as a slug, as llama-server names
        models: ``SmolLM2-135M-Instruct.Q4_1.gguf`` becomes ``smollm2-135m-instruct``."""
        stem = _QUANTIZATION_TAG.sub("", gguf.stem)
        return re.sub(r"[^a-z0-9.]+", "-", stem.lower()).strip("-.")

    def gguf_path(self) -> Path:
        """The weights on disk: the given path, or where the packaged model is installed."""
        if self.path is not None:
            return self.path
        assert self.packaged is not None, "validated: a card has a path or a packaged name"
        return packaged_model_path(self.packaged)
