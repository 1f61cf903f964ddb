"""The web console: a Starlette app that is a client of a runner over gRPC,
serving pages for runs, workflows and executors, live over server-sent events.

    app = create_app(lambda: RunnerClient("127.0.0.1:7070"))

`stepline console` serves it with uvicorn (needs the `console` extra).
"""

from .app import create_app

__all__ = ["create_app"]
