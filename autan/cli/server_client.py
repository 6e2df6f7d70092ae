"""The HTTP client of the commands that work against a running server (files, batch,
fine-tuning): its address, its key, and its errors as one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from autan.accounts.accounts import ADMIN_KEY_FILE
from autan.cli.command_group import CommandLineError
from autan.cli.options import build_settings

DEFAULT_URL = "http://127.0.0.1:8000"

ServerUrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="AUTAN_URL", help="The server to ask."),
]
ServerKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="MISTRAL_API_KEY",
        help="API key (default: the admin key in the data dir, if there is one).",
    ),
]
KeyDataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="AUTAN_DATA_DIR",
        help="Where to find the admin key when no --api-key is given (~/.local/share/autan).",
    ),
]


class ServerClient:
    def __init__(self, url: str, api_key: str | None, data_dir: Path | None) -> None:
        key = api_key or self._admin_key(data_dir)
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=httpx.Timeout(60, connect=10),
        )

    @staticmethod
    def _admin_key(data_dir: Path | None) -> str | None:
        path = build_settings(data_dir=data_dir).data_dir / ADMIN_KEY_FILE
        try:
            return path.read_text().strip() or None
        except OSError:
            return None

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer; an error answer becomes its message, on one line."""
        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise CommandLineError(
                f"cannot reach {self.url}: {e}. Is `autan serve` running?"
            ) from e
        self.check(r)
        return r.json() if r.content else None

    def stream(self, path: str) -> Any:
        """A streamed GET (``with client.stream(path) as r``), checked when entered."""
        return self._http.stream("GET", path)

    def check(self, r: httpx.Response) -> None:
        if r.status_code < 400:
            return
        r.read()
        try:
            body = r.json()
            message = body.get("message") or body.get("detail") or body
        except ValueError:
            message = r.text[:300]
        hint = " (pass --api-key or set MISTRAL_API_KEY)" if r.status_code == 401 else ""
        raise CommandLineError(f"{self.url} answered {r.status_code}: {message}{hint}")

    def file_id(self, path_or_id: str, purpose: str) -> str:
        """A file id as it is, or the id of the local file ``path_or_id`` once uploaded."""
        path = Path(path_or_id).expanduser()
        if not path.is_file():
            return path_or_id
        with path.open("rb") as f:
            uploaded = self.request(
                "POST", "/v1/files", files={"file": (path.name, f)}, data={"purpose": purpose}
            )
        typer.echo(f"uploaded {path} as {uploaded['id']}", err=True)
        return str(uploaded["id"])
