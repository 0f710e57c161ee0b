"""The page a person sees at ``/``: what this node is and where its parts are."""

from __future__ import annotations

from html import escape

from dronecoop import __version__
from dronecoop.settings import Settings

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; color: #1d2733; }
h1 { margin-bottom: 0.2rem; } .sub { color: #5a6672; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
td, th { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #dde3ea; }
code { background: #f1f4f7; padding: 0.1rem 0.3rem; border-radius: 3px; }
"""


def landing_page(settings: Settings) -> str:
    base = escape(settings.base_url)
    rows = [
        (
            "DSS (ASTM F3548-21)",
            f"{base}/dss/v1",
            "strategic coordination: intents, constraints, subscriptions",
        ),
        (
            "Flights",
            f"{base}/api/v1/flights",
            "plan (deconflicted against every partner), activate, end",
        ),
        ("USS (ASTM F3548-21)", f"{base}/uss/v1", "a flight's details for peer USSs"),
        (
            "Fleet page",
            f'<a href="/fleet">{base}/fleet</a>',
            "airworthiness, next due, defects, flight logs (open with #token=...)",
        ),
        (
            "Fleet and maintenance",
            f"{base}/api/v1/aircraft · {base}/api/v1/logs · {base}/api/v1/mro",
            "aircraft, flight logs in, due-list, work orders",
        ),
        (
            "Trust",
            f"{base}/api/v1/audit · {base}/api/v1/partners",
            "your partner's audit trail and live feed; who may see what",
        ),
        ("API documentation", f'<a href="/docs">{base}/docs</a>', "Swagger UI (offline)"),
        ("API reference", f'<a href="/redoc">{base}/redoc</a>', "ReDoc"),
        (
            "OpenAPI document",
            f'<a href="/openapi.json">{base}/openapi.json</a>',
            "machine-readable",
        ),
        ("Health", f'<a href="/healthz">{base}/healthz</a>', "liveness"),
    ]
    body = "\n".join(
        f"<tr><th>{escape(name)}</th><td>{where}</td><td>{escape(what)}</td></tr>"
        for name, where, what in rows
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dronecoop node</title>
<style>{_STYLE}</style></head>
<body>
<h1>dronecoop</h1>
<p class="sub">Drone cooperation between allied organizations · version {escape(__version__)}</p>
<p>This node serves the shared-airspace <b>DSS</b> that partners' USSs use to publish and
deconflict their operational intents, and each partner's <b>flights</b>, planned against
everyone else's. Every change is on a tamper-evident audit chain. Calls need an RS256
bearer token with the standard's scopes or a dronecoop role; on a development node, mint
one with <code>dronecoop token --sub kim --scope dronecoop.role.planner</code>, or plan
from the command line:
<code>dronecoop flights plan FILE.plan --start 2026-12-01T09:00:00Z</code>.</p>
<table>{body}</table>
</body></html>"""
