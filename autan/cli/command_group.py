"""The one place where a command's failure becomes what the user reads: one line on stderr and
exit status 1, never a traceback, for every mistake a user can make on the command line."""

from __future__ import annotations

from typing import Any

import httpx
import typer
from pydantic import ValidationError
from typer.core import TyperArgument, TyperGroup, TyperOption

from autan.errors import AutanError, ModelsFileError


class CommandLineError(Exception):
    """A mistake on the command line (a path that is not there, an unknown name): its message
    is the whole answer."""


def validation_problems(error: ValidationError) -> str:
    """``loc: message`` for each problem, on one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" if err["loc"] else err["msg"]
        for err in error.errors()
    )


def fail(message: object) -> typer.Exit:
    """Print ``error: message`` and return the exit to raise: ``raise fail(...) from e``."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


_PLAIN_TYPES = {
    "bool": None,
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "path": "PATH",
    "file": "PATH",
    "directory": "PATH",
}


def _plain_type(typer_label: str | None) -> str | None:
    """What ``--help`` shows of a value: TEXT, INTEGER, PATH, a|b|c; nothing for a flag,
    where typer would print Python's types (``<bool>``, ``<list[str]>``)."""
    if typer_label is None or not typer_label.startswith("<"):
        return typer_label  # a metavar the command chose
    inner = typer_label.strip("<>.")
    repeat = inner.startswith("list[")
    inner = inner.removeprefix("list[").removesuffix("]") if repeat else inner
    label = _PLAIN_TYPES.get(inner, inner)
    if label is None:
        return None
    return f"{label} (repeat)" if repeat else label


def _plain_help_types() -> None:
    """Plain value types in every ``--help``: typer's own parameters (``--help``, completion)
    are made as the page is printed, so this wraps the method that names a type, once."""
    for cls in (TyperOption, TyperArgument):
        typer_display = cls.display_type_rich

        def display(self: Any, ctx: Any, typer_display: Any = typer_display) -> str | None:
            return _plain_type(typer_display(self, ctx))

        cls.display_type_rich = display  # type: ignore[method-assign]


_plain_help_types()


class AutanGroup(TyperGroup):
    """Every ``autan`` command runs under this group: the errors users cause are turned into
    one line here; anything else is a bug and keeps its traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CommandLineError as e:
            raise fail(e) from e
        except AutanError as e:  # an expiry in the past, an unknown workspace or key
            raise fail(e.message) from e
        except ModelsFileError as e:
            raise fail(e) from e
        except ValidationError as e:  # settings from flags and the environment
            raise fail(validation_problems(e)) from e
        except httpx.TransportError as e:
            raise fail(f"cannot reach the server: {e}. Is `autan serve` running?") from e
