"""`appos domains [list]|add|remove|renew`, `appos certs [list]|renew`."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from cli.client import CliError, connect, seg
from cli.groups import group
from cli.output import JSON_OPTION, out, print_json, status, table, when

domains_app = group("Domains in front of apps, with automatic HTTPS.", default=True)
certs_app = group("HTTPS certificates of the domains.", default=True)


@domains_app.command("list")
def list_domains(as_json: bool = JSON_OPTION) -> None:
    """Every domain, where it goes, and its certificate."""
    with connect() as api:
        domains = api.get("/api/v1/proxy/domains").get("domains", [])
    if as_json:
        print_json(domains)
        return
    table(
        ["DOMAIN", "APP", "SERVICE:PORT", "HTTPS", "UPSTREAM", "CERTIFICATE"],
        (
            [
                d.get("domain"),
                "(console)" if d.get("console") else d.get("app", ""),
                f"{d.get('service', '')}:{d.get('port', '')}" if d.get("service") else "",
                ("yes, forced" if d.get("force_https") else "yes") if d.get("https") else "no",
                d.get("upstream", ""),
                status((d.get("certificate") or {}).get("status", "")),
            ]
            for d in domains
        ),
    )


@domains_app.command("add")
def add(
    domain: str = typer.Argument(..., help="e.g. blog.example.com"),
    app: str = typer.Option("", "--app", "-a", help="The app to serve."),
    service: str = typer.Option("", "--service", help="Its service (default: the template's web UI)."),
    port: int = typer.Option(0, "--port", help="The container port (default: the template's web UI)."),
    https: bool = typer.Option(True, "--https/--no-https", help="Get a certificate (default)."),
    force_https: bool = typer.Option(True, "--force-https/--no-force-https", help="Redirect HTTP."),
    console: bool = typer.Option(False, "--console", help="Serve the AppOS console on it instead."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Put a domain in front of an app (or the console). HTTPS needs DNS and port 80 reaching here."""
    body: dict[str, Any] = {"domain": domain, "https": https, "force_https": force_https}
    with connect() as api:
        if console:
            body["console"] = True
        else:
            if not app:
                raise CliError("--app is required (or --console)")
            if not service or not port:
                info = api.get(f"/api/v1/apps/{seg(app)}")
                service = service or info.get("web_service", "")
                port = port or int(info.get("web_port") or 0)
                if not service or not port:
                    raise CliError(f"{app} has no known web UI: give --service and --port")
            body.update(app=app, service=service, port=port)
        created = api.post("/api/v1/proxy/domains", body)
    if as_json:
        print_json(created)
        return
    scheme = "https" if created.get("https") else "http"
    out.print(f"{scheme}://{created.get('domain')} → {created.get('upstream', '')}")


@domains_app.command("remove")
def remove(domain: str = typer.Argument(...)) -> None:
    """Stop serving a domain."""
    with connect() as api:
        api.delete(f"/api/v1/proxy/domains/{seg(domain)}")
    out.print(f"Removed {domain}.")


def renew(domain: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Check the name and port again, re-apply the proxy config and read the certificate now."""
    with connect() as api:
        cert = api.post(f"/api/v1/proxy/domains/{seg(domain)}/certificate", {})
    if as_json:
        print_json(cert)
        return
    reason = f" — {escape(cert['reason'])}" if cert.get("reason") else ""
    out.print(f"{cert.get('domain')}: {status(cert.get('status', ''))}{reason}")


domains_app.command("renew")(renew)
certs_app.command("renew")(renew)


@certs_app.command("list")
def list_certs(as_json: bool = JSON_OPTION) -> None:
    """Certificates: status, expiry, issuer, and why one failed."""
    with connect() as api:
        certs = api.get("/api/v1/proxy/certificates").get("certificates", [])
    if as_json:
        print_json(certs)
        return
    table(
        ["DOMAIN", "STATUS", "EXPIRES", "DAYS LEFT", "ISSUER", "REASON"],
        (
            [
                c.get("domain"),
                status(c.get("status", "")),
                when(c.get("not_after")),
                c.get("days_left", "") if c.get("not_after") else "",
                escape(c.get("issuer", "")),
                escape(c.get("reason", "")),
            ]
            for c in certs
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(domains_app, name="domains")
    app.add_typer(certs_app, name="certs")
