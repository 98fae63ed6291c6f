"""`consentry serve`, `consentry center-secret` and `consentry member-link ID`: thin
commands over `consentry.center`."""

from __future__ import annotations

import logging
import os

import typer

from consentry.settings import Settings


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, help="port to listen on"),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="also log the ledger migrations (Alembic)"),
) -> None:
    """Run the privacy center (member pages, admin, JSON API) with uvicorn.

    Refuses to start (exit 2, one line) without a signing key of at least 32 characters.
    Links, redirects and the accepted Host/Origin come from CONSENTRY_PUBLIC_URL, by
    default http://HOST:PORT of this command."""
    import uvicorn

    from consentry.center.config import CenterSettings, SecretError

    os.environ.setdefault("CONSENTRY_PUBLIC_URL", f"http://{host}:{port}")
    try:
        CenterSettings().signing_key(Settings())
    except SecretError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.INFO if verbose else logging.WARNING)
    # uvicorn's access log prints query strings (sign-in tokens); ours logs route templates only.
    if workers > 1:
        uvicorn.run("consentry.center.app:create_app", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_config=None)
    else:
        from consentry.center.app import create_app

        uvicorn.run(create_app(), host=host, port=port, access_log=False, log_config=None)


def member_link(
    member_id: str = typer.Argument(..., help="the member to sign in"),
    base_url: str = typer.Option(None, help="the center's public URL (default CONSENTRY_PUBLIC_URL)"),
) -> None:
    """Print a one-time, expiring sign-in link for a member (demo; production uses the identity header)."""
    from consentry.center.auth import signin_url
    from consentry.center.config import CenterSettings, SecretError
    from consentry.center.sources import Sources

    settings, cs = Settings(), CenterSettings()
    try:
        key = cs.signing_key(settings)
    except SecretError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not Sources(settings).member_exists(member_id):
        typer.echo(f"error: no member {member_id!r} in the ledger or the export at {settings.network}", err=True)
        raise typer.Exit(2)
    typer.echo(signin_url(base_url or cs.public_url, key, member_id))


def center_secret() -> None:
    """Create the privacy center's signing key once ($CONSENTRY_HOME/center_secret, mode 0600)."""
    from consentry.center.config import create_secret

    path, created = create_secret(Settings())
    typer.echo(f"{'created' if created else 'kept the existing'} signing key {path}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("member-link")(member_link)
    app.command("center-secret")(center_secret)
