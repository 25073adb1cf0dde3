"""Settings as the commands load and show them: a bad variable is an error message, not a trace."""

from __future__ import annotations

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.config import ConfigurationError, Settings, get_settings


def load_settings(production: bool = False) -> Settings:
    """This process's settings; with `production`, refuse unsafe ones and print the warnings."""
    try:
        settings = get_settings()
    except ValidationError as error:
        problems = "\n".join(
            f"- DIGEST_{'_'.join(map(str, e['loc'])).upper()}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise click.ClickException(f"invalid settings:\n{problems}") from error
    if production:
        try:
            settings.check_production()
        except ConfigurationError as error:
            raise click.ClickException(str(error)) from error
        for warning in settings.production_warnings():
            click.echo(f"warning: {warning}", err=True)
    return settings


def display_url(url: str) -> str:
    """A database or broker URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - it is only for display
        return url.split("@")[-1]
