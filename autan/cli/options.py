"""Flags shared by several commands, turned into one ``Settings``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from autan.settings import (
    EmbeddingSettings,
    EngineSettings,
    LogFormat,
    LogLevel,
    MetricsSettings,
    ModelSettings,
    Settings,
    Speculative,
)

ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        envvar="AUTAN_MODEL__PATH",
        help="GGUF file to serve (default: the packaged SmolLM2-135M).",
    ),
]
ParallelOpt = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        envvar="AUTAN_ENGINE__PARALLEL",
        help="Sequences decoded together (default 8).",
    ),
]
BatchSlotsOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-slots",
        envvar="AUTAN_ENGINE__BATCH_SLOTS",
        help="Sequences batch jobs decode together; above --parallel adds KV streams that only "
        "batch lines use (default: --parallel).",
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        envvar="AUTAN_ENGINE__THREADS",
        help="CPU threads for llama.cpp (default: all cores).",
    ),
]
ContextOpt = Annotated[
    int | None,
    typer.Option(
        "--ctx-size",
        envvar="AUTAN_ENGINE__CONTEXT_PER_SEQUENCE",
        help="Tokens each sequence may hold, prompt and output (4096).",
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="AUTAN_DATA_DIR",
        help="Where autan keeps its files: models file, database, admin key "
        "(~/.local/share/autan).",
    ),
]
ModelsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--models-file",
        envvar="AUTAN_MODELS_FILE",
        help="The TOML file declaring the models (DATA_DIR/models.toml).",
    ),
]
MaxLoadedMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-loaded-memory",
        envvar="AUTAN_MAX_LOADED_MEMORY",
        help="Memory the loaded models may take together, e.g. 8GiB (default: half the RAM).",
    ),
]
EmbeddingsOpt = Annotated[
    bool | None,
    typer.Option(
        "--embeddings/--no-embeddings",
        envvar="AUTAN_EMBEDDINGS__ENABLED",
        help="Serve /v1/embeddings with the packaged all-MiniLM-L6-v2 (default: on).",
    ),
]
PrefixCacheOpt = Annotated[
    bool | None,
    typer.Option(
        "--prefix-cache/--no-prefix-cache",
        envvar="AUTAN_ENGINE__PREFIX_CACHE",
        help="Reuse the KV of a prompt prefix an earlier request decoded (on by default).",
    ),
]
SpeculativeOpt = Annotated[
    Speculative | None,
    typer.Option(
        "--speculative",
        envvar="AUTAN_ENGINE__SPECULATIVE",
        help="Prompt-lookup speculative decoding: auto (while a single sequence runs, where "
        "drafts pay), on or off (default auto).",
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="AUTAN_URL",
        help="A running server, e.g. http://127.0.0.1:8000.",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="MISTRAL_API_KEY",
        help="API key for --url (default: the admin key in the data dir, if there is one).",
    ),
]
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        envvar="AUTAN_METRICS__PORT",
        help="Serve /metrics on this port instead of the API port (same address).",
    ),
]
MetricsAuthOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics-auth",
        envvar="AUTAN_METRICS__AUTH",
        help="Who may read /metrics: none (anyone who reaches the port, the default) or admin "
        "(an admin API key).",
    ),
]
LogFormatOpt = Annotated[
    LogFormat | None,
    typer.Option(
        "--log-format",
        envvar="AUTAN_LOG_FORMAT",
        help="json: one JSON object a line, with the request id.",
    ),
]
LogLevelOpt = Annotated[
    LogLevel | None,
    typer.Option(
        "--log-level",
        envvar="AUTAN_LOG_LEVEL",
        metavar="LEVEL",
        help="debug, info, warning or error; debug also shows llama.cpp's own log (info).",
    ),
]


def build_settings(
    *,
    model: Path | None = None,
    parallel: int | None = None,
    batch_slots: int | None = None,
    threads: int | None = None,
    context: int | None = None,
    prefix_cache: bool | None = None,
    speculative: Speculative | None = None,
    log_level: LogLevel | None = None,
    embeddings: bool | None = None,
    metrics_port: int | None = None,
    metrics_auth: str | None = None,
    jobs: bool | None = None,
    **top: Any,
) -> Settings:
    """Environment first (``AUTAN_*``), flags on top; validated once here."""
    base = Settings()
    engine: dict[str, Any] = base.engine.model_dump()
    engine.update(
        {
            k: v
            for k, v in (
                ("parallel", parallel),
                ("batch_slots", batch_slots),
                ("threads", threads),
                ("context_per_sequence", context),
                ("prefix_cache", prefix_cache),
                ("speculative", speculative),
            )
            if v is not None
        }
    )
    model_settings = base.model.model_dump()
    if model is not None:
        model_settings["path"] = model
    embedding_settings = base.embeddings.model_dump()
    if embeddings is not None:
        embedding_settings["enabled"] = embeddings
    metrics_settings = base.metrics.model_dump()
    if metrics_port is not None:
        metrics_settings["port"] = metrics_port
    if metrics_auth is not None:
        metrics_settings["auth"] = metrics_auth
    fields = base.model_dump(exclude={"engine", "model", "embeddings", "metrics"})
    fields.update({k: v for k, v in top.items() if v is not None})
    if log_level is not None:
        fields["log_level"] = log_level
    if jobs is not None:
        fields["jobs"] = {**fields["jobs"], "enabled": jobs}
    return Settings.model_validate(
        {
            **fields,
            "engine": EngineSettings.model_validate(engine),
            "model": ModelSettings.model_validate(model_settings),
            "embeddings": EmbeddingSettings.model_validate(embedding_settings),
            "metrics": MetricsSettings.model_validate(metrics_settings),
        }
    )
