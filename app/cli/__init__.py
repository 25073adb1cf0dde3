"""The `digest` command: a table of its commands, each loaded only when it is run.

A command's module imports what it needs at its top, and the root imports none of them: so
`digest worker` never loads the web app or the ranking (numpy, SciPy, scikit-learn), and
`digest --help` lists every command from the table below without importing any.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import click
from click.exceptions import NoSuchCommand


class Lazy(NamedTuple):
    """Where a command lives (`module:attr` under `app.cli`) and its one-line help."""

    target: str
    help: str  # the command's docstring, listed by `digest --help` without importing it


COMMANDS: dict[str, Lazy] = {
    "admin": Lazy("accounts:admin", "Admin accounts for the web UI."),
    "api": Lazy("serve:api", "Production: the web app and API (PostgreSQL, Redis)."),
    "beat": Lazy("workers:beat", "Production: Celery beat, the scheduler (run exactly one)."),
    "bounces": Lazy(
        "bounces:bounces", "Late bounces and complaints (DSN, ARF) from files or an MTA pipe."
    ),
    "ingest": Lazy(
        "posts:ingest",
        "Read posts from an RSS/Atom feed URL or file, or a JSON file of posts (SPEC §7).",
    ),
    "migrate": Lazy("migrate:migrate", "Apply the database migrations (alembic upgrade head)."),
    "rank": Lazy(
        "ranking:rank",
        "Print the ranked top 10 of a week with scores and reasons; changes nothing.",
    ),
    "send": Lazy(
        "delivery:send",
        "Send an issue (or watch a running send) with a progress bar; the workers deliver.",
    ),
    "serve": Lazy(
        "serve:serve",
        "Embedded mode: migrate, then run the API, a Celery worker and Celery beat together.",
    ),
    "sources": Lazy(
        "sources:sources",
        "Per-source weights and what readers' clicks say about each source.",
    ),
    "subscribers": Lazy("readers:subscribers", "Import and export readers."),
    "worker": Lazy(
        "workers:worker",
        "Production: a Celery worker (extra arguments go to celery, e.g. --concurrency 4).",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported from `app.cli.<module>` when asked for by name."""

    def __init__(self, *args: Any, lazy_commands: dict[str, Lazy], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_commands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module, attr = self.lazy_commands[cmd_name].target.split(":")
        command = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise TypeError(f"{__name__}.{module}:{attr} is not the {cmd_name!r} command")
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except NoSuchCommand as error:  # click would suggest names from `self.commands` only
            raise NoSuchCommand(
                error.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands with the table's help, shortened as click shortens a docstring."""
        stand_ins = [
            click.Command(name, help=lazy.help) for name, lazy in self.lazy_commands.items()
        ]
        listed = click.Group(commands=[*self.commands.values(), *stand_ins])
        listed.format_commands(ctx, formatter)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """Weekly Digest: a self-hosted weekly top-10 newsletter."""
