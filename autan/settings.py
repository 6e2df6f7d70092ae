"""One typed settings object, read from the environment (prefix ``AUTAN_``) and CLI flags."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
Speculative = Literal["auto", "on", "off"]

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
DEFAULT_ALIASES = ("mistral-small-latest", "mistral-large-latest", "open-mistral-7b")
DEFAULT_EMBEDDING_ID = "all-minilm-l6-v2"
DEFAULT_EMBEDDING_ALIASES = ("mistral-embed",)
# What prices, costs and spend limits are in, unless AUTAN_ACCOUNTS__CURRENCY says otherwise.
DEFAULT_CURRENCY = "USD"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)


def parse_size(value: object) -> object:
    """``"8GiB"``, ``"512MiB"``, ``"2G"``, ``"1.5GB"`` or a plain number, in bytes.

    KiB/MiB/GiB/TiB and a bare letter (``8G``, as llama.cpp users write it) count in 1024s;
    kB/MB/GB/TB count in 1000s.
    """
    if not isinstance(value, str):
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a size; write it like 8GiB, 512MiB or 2000000000")
    number, unit, binary, byte = match.groups()
    power = "kmgt".index(unit.lower()) + 1 if unit else 0
    base = 1000 if byte and not binary else 1024
    return int(float(number) * base**power)


def _half_of_ram() -> int:
    """Default budget for loaded models: half the machine's memory (8 GiB if unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


ByteSize = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


class EngineSettings(BaseModel):
    """How one model is run: slots, context, threads, batching."""

    @property
    def batch_sequences(self) -> int:
        """Batch lines decoded together: ``batch_slots``, else every slot when an
        interactive reserve exists, else all but one."""
        if self.batch_slots is not None:
            return self.batch_slots
        return self.parallel if self.interactive_reserve else max(1, self.parallel - 1)

    @property
    def streams(self) -> int:
        """KV streams of a context: the slots (as many as batch lines may hold, when that is
        more than ``parallel``), and the interactive reserve."""
        return max(self.parallel, self.batch_sequences) + self.interactive_reserve

    parallel: int = Field(default=8, ge=1, le=256, description="sequences decoded together")
    context_per_sequence: int = Field(
        default=4096, ge=64, description="KV cells each slot owns (prompt + output)"
    )
    batch_tokens: int = Field(default=512, ge=16, description="tokens per llama_decode call")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    gpu_layers: int = Field(
        default=0,
        ge=-1,
        description="model layers offloaded to the GPU when llama-cpp-python was built with one "
        "(CUDA, Metal, Vulkan); -1 offloads every layer; ignored by a CPU-only build",
    )
    max_waiting: int = Field(
        default=256,
        ge=0,
        description="queued requests before 503, counted apart for interactive requests and "
        "batch lines",
    )
    prefix_cache: bool = Field(
        default=True, description="reuse the KV of a prompt prefix an earlier request decoded"
    )
    host_cache_mb: int = Field(
        default=512,
        ge=0,
        description="host memory (MiB) for prompts' KV moved out of their slot when a new "
        "prompt takes it, loaded back when one of them comes again (0: none)",
    )
    speculative: Speculative = Field(
        default="auto",
        description="prompt-lookup speculative decoding: draft tokens from the sequence's own "
        "prompt and reply, verified in one decode (auto: while at most "
        "speculative_max_running sequences run, as many tokens as pay on this machine; on: "
        "always, 15 tokens; off: never)",
    )
    speculative_max_running: int = Field(
        default=1,
        ge=1,
        le=256,
        description="running sequences above which auto speculation stops: on a CPU a "
        "step's cost grows with its rows, and a full batch gains nothing from drafts",
    )
    batch_slots: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="sequences batch lines may hold at once, more than --parallel allowed "
        "(extra KV streams, for batch lines only: on a CPU a step's cost per token falls as "
        "its rows grow); unset: all of --parallel when an interactive reserve slot exists, "
        "else all but one",
    )
    interactive_reserve: int = Field(
        default=1,
        ge=0,
        le=16,
        description="KV streams beyond --parallel that only interactive requests take, so "
        "that one arriving while batch lines fill every slot starts at once",
    )
    batch_decodes_under_load: int = Field(
        default=1,
        ge=1,
        description="batch sequences decoded per step while interactive requests come",
    )
    interactive_grace_seconds: float = Field(
        default=1.0, ge=0, description="how long after the last interactive request that lasts"
    )
    fast_forward: bool = Field(
        default=True,
        description="append the tokens a grammar forces (JSON keys, a forced tool call's "
        "syntax) without sampling them, and decode them with the sampled token in one chunk",
    )
    interactive_hold_seconds: float = Field(
        default=0.05,
        ge=0,
        description="how long batch-only steps wait once interactive work ends, so that a "
        "client's next request (an agent's next turn) finds the engine free",
    )


class ModelSettings(BaseModel):
    """Which model is served, and under which names."""

    path: Path | None = Field(default=None, description="GGUF file; the packaged model if unset")
    id: str = DEFAULT_MODEL_ID
    aliases: list[str] = Field(default_factory=lambda: list(DEFAULT_ALIASES))
    format: Literal["auto", "template", "mistral"] = Field(
        default="auto",
        description="prompt format: the GGUF's chat template, or Mistral's (mistral-common); "
        "auto picks Mistral's for a Mistral vocabulary",
    )
    tokenizer: str | None = Field(
        default=None,
        description="mistral-common tokenizer (a packaged name such as v3, v7, tekken, or a "
        "tekken.json / tokenizer.model.vN path); found from the vocabulary when unset",
    )


class EmbeddingSettings(BaseModel):
    """The packaged embedding model (all-MiniLM-L6-v2, int8 ONNX) and how it runs."""

    enabled: bool = Field(default=True, description="serve /v1/embeddings when the model is there")
    id: str = DEFAULT_EMBEDDING_ID
    aliases: list[str] = Field(default_factory=lambda: list(DEFAULT_EMBEDDING_ALIASES))
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    batch_size: int = Field(
        default=32, ge=1, le=512, description="texts per ONNX run; waiting requests merge up to it"
    )
    max_inputs: int = Field(default=512, ge=1, description="texts per request before 400")


class FineTuningSettings(BaseModel):
    """LoRA fine-tuning jobs: how the trainer process runs, and the defaults of a job.

    ``lora_alpha / lora_rank`` is the LoRA scale. At 16 (not the usual 2), the learning rate
    clients send by default (1e-4, the Mistral SDK's) learns a format in about 20 steps on a
    135M model; at scale 2 the same rate learns nothing in that many steps (with Adam, the
    scale acts as a multiplier of the rate). See docs/fine-tuning.md.
    """

    enabled: bool = Field(default=True, description="serve /v1/fine_tuning and run its jobs")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    lora_rank: int = Field(default=16, ge=1, le=256)
    lora_alpha: float = Field(default=256.0, gt=0)
    batch_size: int = Field(default=4, ge=1, le=256)
    seq_len: int = Field(default=1024, ge=100, description="tokens per example; longer are cut")
    default_epochs: float = Field(
        default=3.0, gt=0, description="when a job gives neither training_steps nor epochs"
    )
    max_training_steps: int = Field(default=10_000, ge=1)
    min_examples: int = Field(default=10, ge=1, description="valid lines a training file needs")
    checkpoints: int = Field(default=5, ge=1, description="checkpoints per job (at most)")
    poll_seconds: float = Field(
        default=0.5, gt=0, description="how often a running trainer's progress is read"
    )
    models_sync_seconds: float = Field(
        default=5.0,
        gt=0,
        description="how often a server looks for fine-tuned models made or deleted through "
        "other processes on its database",
    )
    bf16: bool = Field(
        default=False,
        description="train under bfloat16 autocast: faster only where the CPU has fast bf16 "
        "(on this project's 2-core VMs it was 3 to 9 times slower than float32)",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="dequantized base models (one per GGUF); <data_dir>/fine_tuning/base-models",
    )


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "autan"


class AccountsSettings(BaseModel):
    """Keys, limits and the usage ledger: defaults for keys created without limits, and how
    usage records reach the database."""

    default_requests_per_minute: int | None = Field(
        default=None, ge=1, description="limit for keys created without one; unset: none"
    )
    default_tokens_per_minute: int | None = Field(
        default=None, ge=1, description="limit for keys created without one; unset: none"
    )
    usage_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often buffered records (requests not answered to the end) are written",
    )
    usage_batch_size: int = Field(default=500, ge=1, description="records written per batch")
    redis_prefix: str = Field(default="autan:", description="prefix of every Redis key")
    currency: str = Field(
        default=DEFAULT_CURRENCY,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of model prices, costs and spend limits, shown with each amount",
    )


class FilesSettings(BaseModel):
    """Uploaded files: how large, and how long signed download URLs live."""

    max_upload_bytes: ByteSize = Field(
        default=512 * 1024**2, description="largest upload accepted; larger ones get 413"
    )
    url_expiry_hours: int = Field(
        default=24, ge=1, le=168, description="default lifetime of a signed download URL"
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="the server's address as clients reach it (https://llm.example.com), "
        "which signed download URLs start with; unset: http://HOST:PORT as served",
    )
    store: Literal["auto", "filesystem", "database"] = Field(
        default="auto",
        description="where file contents live: filesystem (DATA_DIR/files, one machine's), "
        "database (chunked rows, read by every process on the database), or auto: database "
        "on PostgreSQL, filesystem on SQLite",
    )


class RequestLimits(BaseModel):
    """Bounds on what one request may ask for, so that no request can stall the server or the
    engine for others. Past them the request gets a 4xx before any work is done."""

    max_body_bytes: ByteSize = Field(
        default=8 * 1024**2,
        description="largest request body (multipart uploads excepted: see files); larger "
        "ones get 413, counted as the body arrives",
    )
    max_messages: int = Field(default=1024, ge=1, description="messages per chat request")
    max_schema_depth: int = Field(
        default=64,
        ge=1,
        le=200,
        description="nesting of one JSON schema, in JSON objects and lists",
    )
    max_schema_nodes: int = Field(
        default=5000,
        ge=1,
        description="JSON values (objects, lists, strings, numbers...) in one request's "
        "schemas, all levels together",
    )
    max_schema_properties: int = Field(
        default=500,
        ge=1,
        description="properties one request's schemas declare, all objects together (past "
        "about 500 optional properties in one object llguidance stops mid-reply)",
    )
    max_schema_bound: int = Field(
        default=10_000,
        ge=1,
        description="largest minItems/maxItems/minLength/maxLength/minProperties/maxProperties/"
        "minContains/maxContains a schema may set",
    )


class JobsSettings(BaseModel):
    """The in-process job runner: batch and fine-tuning jobs claimed from the database."""

    enabled: bool = Field(default=True, description="run jobs in the serving process")
    lease_seconds: float = Field(
        default=30.0, gt=0, description="a worker silent this long loses its job to another"
    )
    poll_seconds: float = Field(default=1.0, gt=0, description="how often idle workers look")
    max_jobs: int = Field(
        default=4,
        ge=1,
        le=64,
        description="batch jobs one process runs at once, oldest first; their lines share the "
        "engines, so a long job does not hold a short one back until it ends (fine-tuning "
        "jobs: one at a time, beside them)",
    )
    batch_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="lines of one batch job in flight at once; unset: twice the engine's "
        "batch sequences, so that a slot a line leaves finds the next one waiting",
    )


class MetricsSettings(BaseModel):
    """``GET /metrics`` (Prometheus): whether it exists, who may read it, and where."""

    enabled: bool = Field(
        default=True, description="record metrics and serve them at /metrics; off: /metrics is 404"
    )
    auth: Literal["none", "admin"] = Field(
        default="none",
        description="who may read /metrics: anyone who reaches the port, or only requests with "
        "an admin API key (needs API keys on)",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve /metrics on this port (same address) instead of the API port; "
        "the API port then answers 404 there",
    )


class TracingSettings(BaseModel):
    """OpenTelemetry traces. Where they go is read from the standard ``OTEL_*`` variables
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
    ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``...); without an endpoint nothing is traced."""

    capture_content: bool = Field(
        default=False,
        description="put prompt and completion text into spans (gen_ai.input.messages, "
        "gen_ai.output.messages); off: only sizes, models and timings",
    )


class RequestLogSettings(BaseModel):
    """The request log: one record per API request, written by a thread of its own."""

    enabled: bool = Field(default=True, description="record every API request")
    queue_size: int = Field(
        default=10_000,
        ge=1,
        description="records waiting to be written; past it new ones are dropped (and counted) "
        "rather than slowing requests",
    )
    batch_size: int = Field(default=500, ge=1, description="records written per transaction")
    flush_seconds: float = Field(default=1.0, gt=0, description="longest a record waits")
    retention_sweep_seconds: float = Field(
        default=3600.0, gt=0, description="how often bodies past their retention are removed"
    )
    no_auth_bodies_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="under --no-auth (no workspaces to turn it on), keep request and reply "
        "bodies this many days; unset: never kept",
    )


class RoutingSettings(BaseModel):
    """How requests for routed models are spread over their deployments (``AUTAN_ROUTING__*``)."""

    affinity: bool = Field(
        default=True,
        description="send a prompt that starts like a recent one to the deployment that served "
        "it, whose prefix cache holds it (off: least outstanding requests alone)",
    )
    affinity_load_factor: float = Field(
        default=1.25,
        ge=1.0,
        description="the affine deployment is skipped above this many times the mean load",
    )
    affinity_entries: int = Field(default=10_000, ge=1, description="prompt starts remembered")
    retry_deadline: float = Field(
        default=60.0,
        gt=0,
        description="seconds within which a failed request is tried again elsewhere, before "
        "its first byte reaches the client",
    )
    invalid_reply_retries: int = Field(
        default=1,
        ge=0,
        le=5,
        description="times a reply that breaks its schema or tool_choice is asked again",
    )
    batch_share: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="share of a deployment's max_concurrent that batch lines may take",
    )
    probe_interval: float = Field(
        default=1.0, gt=0, description="seconds between health probes of deployments that are down"
    )
    reload_interval: float = Field(
        default=1.0, gt=0, description="seconds between checks of the models file for changes"
    )


class Settings(BaseSettings):
    """Everything autan reads at start; validated once, handed down by section."""

    model_config = SettingsConfigDict(
        env_prefix="AUTAN_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: LogLevel = "info"
    log_format: LogFormat = Field(
        default="text", description="json: one JSON object a line, with the request id"
    )
    engine: EngineSettings = Field(default_factory=EngineSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="where autan keeps its files: the models file, the SQLite database, the "
        "admin key",
    )
    models_file: Path | None = Field(
        default=None, description="the TOML file declaring the models; <data_dir>/models.toml"
    )
    max_loaded_memory: ByteSize = Field(
        default_factory=_half_of_ram,
        description="bytes the loaded models may take together (weights + KV cache)",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (PostgreSQL); unset: SQLite in data_dir"
    )
    redis_url: str | None = Field(
        default=None,
        description="shared rate limits, deployment health and concurrency across processes; "
        "unset: in memory",
    )
    no_auth: bool = Field(default=False, description="serve without API keys (experiments only)")
    shutdown_grace_seconds: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        description="on SIGTERM, how long `autan serve` lets requests in flight end (streams "
        "included) before it cuts them; it accepts no new connection meanwhile",
    )
    accounts: AccountsSettings = Field(default_factory=AccountsSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    files: FilesSettings = Field(default_factory=FilesSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    limits: RequestLimits = Field(default_factory=RequestLimits)
    fine_tuning: FineTuningSettings = Field(default_factory=FineTuningSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)

    @property
    def models_path(self) -> Path:
        return self.models_file or self.data_dir / "models.toml"

    @property
    def public_url(self) -> str:
        """Where clients reach this server: ``files.public_url``, else the address served
        (a wildcard address as the loopback one)."""
        if self.files.public_url is not None:
            return self.files.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.model.id in self.model.aliases:
            raise ValueError(f"alias {self.model.id!r} repeats the model id")
        if self.metrics.auth == "admin" and self.no_auth:
            raise ValueError("metrics auth 'admin' needs API keys: it cannot be used with no_auth")
        if self.metrics.port is not None and self.metrics.port == self.port:
            raise ValueError(f"the metrics port {self.metrics.port} is the API port")
        return self
