"""`newsflow stack up|down|status|logs`: the local Kafka + Elasticsearch stack, no docker."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from newsflow import stack
from newsflow.cli.app import app, settings_of
from newsflow.stack.layout import StackPaths
from newsflow.stack.process import follow, tail

stack_app = typer.Typer(
    help="Run a local Kafka 4 + Elasticsearch 9 (from Maven Central, no docker).",
    no_args_is_help=True,
)
app.add_typer(stack_app, name="stack")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(exc: stack.StackError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    if exc.details:
        err.print(exc.details, highlight=False, markup=False, style="dim")
    return typer.Exit(1)


def _print_status(current: stack.StackStatus) -> None:
    # One plain line per service (not a table) so it stays readable in logs and narrow CI.
    out.print(f"newsflow stack in {current.stack_dir}", highlight=False)
    for svc in current.services.values():
        if svc.running:
            state = "[green]running[/]" if svc.managed else "[yellow]running (external)[/]"
        elif svc.pid is not None:
            state = "[yellow]not answering[/]"
        else:
            state = "[red]stopped[/]"
        ports = ", ".join(f"{k} {v}" for k, v in svc.ports.items())
        pids = " ".join(map(str, svc.pids)) or "-"
        rss = f"{svc.rss_kb / 1024:.0f} MB" if svc.rss_kb else "-"
        auth = "  security on" if svc.secure else ""
        out.print(
            f"  {svc.name:<13} {state:<8} version {svc.version or '-':<7} {svc.endpoint} "
            f"({ports})  pids {pids}  rss {rss}{auth}",
            highlight=False,
        )


_SERVICE_HELP = "Only this service: kafka or es (default: both)."


def _services(service: str | None) -> tuple[stack.Service, ...]:
    """The services a command acts on, from the optional SERVICE argument."""
    if service is None:
        return stack.SERVICES
    names: dict[str, stack.Service] = {
        "kafka": "kafka",
        "es": "elasticsearch",
        "elasticsearch": "elasticsearch",
    }
    if service not in names:
        err.print(f"[bold red]error:[/] unknown service {service!r}; use kafka or es")
        raise typer.Exit(2)
    return (names[service],)


_SECURE_HELP = (
    "Security on: Elasticsearch with users, Kafka with SASL/SCRAM-SHA-512 (and the "
    "controller with SASL/PLAIN). Passwords are generated into the stack dir (mode 0600); "
    "default: NEWSFLOW_STACK_SECURE."
)


@stack_app.command()
def up(
    ctx: typer.Context,
    service: str | None = typer.Argument(None, metavar="SERVICE", help=_SERVICE_HELP),
    secure: bool | None = typer.Option(None, "--secure/--no-secure", help=_SECURE_HELP),
) -> None:
    """Start Kafka and Elasticsearch (downloads on first use); a no-op if they are running."""
    settings = settings_of(ctx)
    if secure is not None:
        settings = settings.model_copy(
            update={"stack": settings.stack.model_copy(update={"secure": secure})}
        )
    started = time.monotonic()
    try:
        current = stack.up(settings, _services(service))
    except stack.StackError as exc:
        raise _fail(exc) from None
    _print_status(current)
    if settings.stack.secure:
        env_file = StackPaths.from_settings(settings).client_env_file
        err.print(
            f"security on; the client settings are in {env_file} (mode 0600): "
            f"set -a; . {env_file}; set +a",
            highlight=False,
        )
    err.print(f"ready in {time.monotonic() - started:.1f} s")


@stack_app.command()
def down(
    ctx: typer.Context,
    service: str | None = typer.Argument(None, metavar="SERVICE", help=_SERVICE_HELP),
    purge: bool = typer.Option(False, "--purge", help="Also delete data, config and logs."),
) -> None:
    """Stop the services this stack started (graceful, then forced after 30 s)."""
    settings = settings_of(ctx)
    try:
        stopped = stack.down(settings, purge=purge, services=_services(service))
    except stack.StackError as exc:
        raise _fail(exc) from None
    err.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of this stack was running")
    for svc in stack.status(settings).services.values():
        if svc.running and not svc.managed:
            err.print(f"{svc.name} on {svc.endpoint} was not started by this stack dir; left alone")
    if purge:
        err.print("data purged (downloads kept in the cache)")


@stack_app.command()
def status(ctx: typer.Context) -> None:
    """Show versions, ports, pids and memory; exit code 1 if something is not running."""
    current = stack.status(settings_of(ctx))
    _print_status(current)
    if not current.running:
        raise typer.Exit(1)


@stack_app.command()
def logs(
    ctx: typer.Context,
    service: str | None = typer.Argument(
        None, metavar="SERVICE", help="kafka or es (default: both)."
    ),
    lines: int = typer.Option(50, "-n", "--lines", help="How many lines to show."),
    follow_: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
) -> None:
    """Print the last lines of a service's log (and follow it with -f)."""
    paths = StackPaths.from_settings(settings_of(ctx))
    files = {"kafka": paths.kafka_log, "es": paths.es_log}
    aliases = {"elasticsearch": "es"}
    if service is not None:
        key = aliases.get(service, service)
        if key not in files:
            err.print(f"[bold red]error:[/] unknown service {service!r}; use kafka or es")
            raise typer.Exit(2)
        files = {key: files[key]}
    names: dict[Path, str] = {path: name for name, path in files.items()}
    if not any(path.exists() for path in names):
        for path, name in names.items():
            err.print(f"{name}: no log at {path} (not started by `newsflow stack up` here)")
        raise typer.Exit(1)
    prefix = len(files) > 1
    for path, name in names.items():
        if not path.exists():  # the other service's is there: show it, say where this was not
            err.print(f"{name}: no log at {path} (not started by `newsflow stack up` here)")
            continue
        for line in tail(path, lines):
            print(f"[{name}] {line}" if prefix else line)
    if follow_:
        try:
            for path, line in follow(list(names)):
                print(f"[{names[path]}] {line}" if prefix else line, flush=True)
        except KeyboardInterrupt:
            pass
