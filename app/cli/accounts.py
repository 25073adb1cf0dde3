"""`digest admin create`: admin accounts for the web UI."""

from __future__ import annotations

import sys

import click

from app.accounts import AccountError, create_admin_command
from app.cli.settings import load_settings


@click.group()
def admin() -> None:
    """Admin accounts for the web UI."""


@admin.command("create")
@click.argument("email")
def admin_create(email: str) -> None:
    """Create an admin (or reset their password, which ends all their login sessions): the
    password is asked at a prompt, or read from stdin."""
    load_settings()
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        click.echo(create_admin_command(email, password))
    except AccountError as error:
        raise click.ClickException(str(error)) from error
