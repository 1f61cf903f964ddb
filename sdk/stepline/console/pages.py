"""The console's HTML: a shell per page (the browser script fills it in from
the JSON API), and the pages for errors: unknown names, a runner that cannot
be reached (it reloads itself until the runner is back), the login form."""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse

NAV = (("/", "Runs"), ("/workflows", "Workflows"), ("/executors", "Executors"))


def _document(title: str, body: str, *, page: str, data: dict[str, str], head: str = "") -> str:
    attributes = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
    nav = "".join(f'<a href="{href}">{name}</a>' for href, name in NAV)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Stepline</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/console.css">
{head}
</head>
<body data-page="{page}"{attributes}>
<header><strong>Stepline</strong><nav>{nav}</nav><span id="live" role="status"></span></header>
<main>
{body}
</main>
<script src="/static/console.js" defer></script>
<script src="/static/run.js" defer></script>
</body>
</html>
"""


def shell(page: str, title: str, body: str, **data: str) -> HTMLResponse:
    """A page the browser script fills in (`page` picks its part of the script)."""
    return HTMLResponse(_document(title, body, page=page, data=data))


def error_page(status_code: int, title: str, message: str, *, retry: bool = False) -> HTMLResponse:
    """A page that says what went wrong; with `retry` it reloads itself every few seconds."""
    head = '<meta http-equiv="refresh" content="3">' if retry else ""
    body = f'<h1>{escape(title)}</h1><p class="error" id="error">{escape(message)}</p>'
    if retry:
        body += "<p>This page reloads by itself until the runner answers.</p>"
    body += '<p><a href="/">Back to the runs</a></p>'
    html = _document(title, body, page="error", data={}, head=head)
    return HTMLResponse(html, status_code=status_code)


def login_page(message: str = "", *, status_code: int = 200) -> HTMLResponse:
    error = f'<p class="error">{escape(message)}</p>' if message else ""
    body = f"""<h1>Log in</h1>{error}
<form method="post" action="/login">
<label>Console token <input type="password" name="token" autofocus required></label>
<button type="submit">Log in</button>
</form>"""
    return HTMLResponse(_document("Log in", body, page="login", data={}), status_code=status_code)


def json_error(status_code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


RUNS_BODY = """<h1>Runs</h1>
<form id="run-filters" class="filters" role="search">
<label>Workflow <select id="filter-workflow"><option value="">all</option></select></label>
<label>Status <select id="filter-status"><option value="">all</option></select></label>
<label>Run id <input id="search" type="search" placeholder="search by id  ( / )"></label>
</form>
<table id="runs"><thead><tr><th>Run</th><th>Workflow</th><th>Status</th><th>Step</th>
<th>Started</th><th>Updated</th></tr></thead><tbody></tbody></table>
<p id="runs-empty" hidden>No runs match.</p>"""

RUN_BODY = """<h1>Run <code id="run-id"></code> <span id="run-status"></span></h1>
<p id="run-facts"></p>
<div class="actions">
<button id="cancel" type="button">Cancel</button>
<button id="resume" type="button">Resume from latest checkpoint</button>
<button id="fork" type="button">Fork from picked checkpoint</button>
<span id="action-result" role="status"></span>
</div>
<div class="columns">
<div>
<section><h2>Graph <small id="graph-step"></small></h2><ul id="graph" class="graph"></ul>
<ul id="edges" class="edges"></ul></section>
<section><h2>Supersteps</h2>
<table id="timeline"><thead><tr><th>Step</th><th>Executors (duration)</th><th>Checkpoint</th>
</tr></thead><tbody></tbody></table></section>
<section><h2>Checkpoints</h2>
<table id="checkpoints"><thead><tr><th>Pick</th><th>Checkpoint</th><th>Step</th><th>Created</th>
<th></th></tr></thead><tbody></tbody></table>
<p><button id="diff" type="button">Diff the two picked</button>
<small>Pick two to compare, or one to fork from.</small></p>
<pre id="checkpoint-view" tabindex="0"></pre></section>
</div>
<div>
<section><h2>Open requests</h2><div id="requests"><p>None.</p></div></section>
<section><h2>Events</h2>
<label>Kind <select id="filter-kind"><option value="">all</option></select></label>
<ol id="events" class="events"></ol></section>
</div>
</div>"""

WORKFLOWS_BODY = """<h1>Workflows</h1><div id="workflows"><p>Loading…</p></div>"""

EXECUTORS_BODY = """<h1>Executors</h1>
<table id="executors"><thead><tr><th>Endpoint</th><th>Answers</th><th>Incarnation</th>
<th>Types</th><th>Used by</th></tr></thead><tbody></tbody></table>"""
