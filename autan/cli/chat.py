"""``autan chat``: an interactive terminal chat, in this process or against a running server."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from autan.accounts.accounts import ADMIN_KEY_FILE
from autan.cli.chat_client import ChatClient, ChatClientError, LocalChatClient, RemoteChatClient
from autan.cli.chat_commands import model_names
from autan.cli.chat_repl import ChatRepl, LineReader
from autan.cli.chat_session import DEFAULT_MAX_TOKENS, ChatSession
from autan.cli.command_group import fail
from autan.cli.options import (
    ApiKeyOpt,
    DataDirOpt,
    ModelOpt,
    ModelsFileOpt,
    ThreadsOpt,
    UrlOpt,
    build_settings,
)
from autan.models.footprint import GgufUnreadable
from autan.models.packaged import PackagedModelMissing
from autan.settings import Settings

_HISTORY_FILE = "chat_history"


def _admin_key(settings: Settings) -> str | None:
    path = settings.data_dir / ADMIN_KEY_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _client(settings: Settings, url: str | None, api_key: str | None) -> ChatClient:
    if url:
        return RemoteChatClient(url, api_key or _admin_key(settings))
    from autan.models.loader import load_registry

    try:
        return LocalChatClient(load_registry(settings))
    except (GgufUnreadable, PackagedModelMissing) as e:
        raise fail(e) from e


async def _chat(
    client: ChatClient,
    requested: str | None,
    session: ChatSession,
    console: Console,
    reader: LineReader,
    *,
    verbose: bool,
    markdown: bool,
) -> None:
    try:
        try:
            choices = await client.models()
        except ChatClientError as e:
            raise fail(e) from e
        chat_models = [c for c in choices if c.chat]
        if not chat_models:
            raise fail(f"{client.where} serves no chat model")
        if requested is None:
            session.model = chat_models[0].id
        elif any(requested in c.names for c in chat_models):
            session.model = requested
        else:
            raise fail(f"no chat model {requested!r}; choose from: {model_names(choices)}")
        console.print(
            f"[bold]autan chat[/bold] · {session.model} · {client.where}\n"
            "[dim]Type a message; /help for commands. Ctrl-C stops a reply, Ctrl-D or /bye "
            "quits.[/dim]",
            highlight=False,
        )
        repl = ChatRepl(
            client,
            session,
            choices,
            console=console,
            reader=reader,
            verbose=verbose,
            markdown=markdown,
        )
        await repl.run()
    finally:
        await client.aclose()


def chat(
    model_name: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL",
            help="Model id or alias (default: the first chat model served).",
            show_default=False,
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    temperature: Annotated[
        float | None,
        typer.Option(min=0, max=1.5, help="Sampling temperature (default: the model's)."),
    ] = None,
    max_tokens: Annotated[
        int,
        typer.Option(min=1, help="Most tokens a reply may have, so a looping reply stops."),
    ] = DEFAULT_MAX_TOKENS,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="After each reply: tokens, time to first token, tokens/s."
        ),
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option(help="Render a reply as Markdown once it ends (on a terminal)."),
    ] = True,
    data_dir: DataDirOpt = None,
    models_file: ModelsFileOpt = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Chat in the terminal; replies stream as they are generated.

    Without --url the models load in this process (no server needed). With --url, the key is
    --api-key, else MISTRAL_API_KEY, else the admin key of the data dir. Type /help in the chat
    for its commands.
    """
    settings = build_settings(
        data_dir=data_dir, models_file=models_file, model=model, threads=threads, parallel=1
    )
    console = Console(highlight=False)
    history = settings.data_dir / _HISTORY_FILE if settings.data_dir.is_dir() else None
    session = ChatSession(model="", system=system, temperature=temperature, max_tokens=max_tokens)
    client = _client(settings, url, api_key)
    asyncio.run(
        _chat(
            client,
            model_name,
            session,
            console,
            LineReader(history),
            verbose=verbose,
            markdown=markdown,
        )
    )
