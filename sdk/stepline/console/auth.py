"""The console's own login, required when it listens beyond loopback: a token
given once (`/login?token=...` or the login form) becomes an HttpOnly cookie,
or comes on each request as `Authorization: Bearer <token>`. The cookie is
SameSite=Strict, and Secure when the console is reached over TLS."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import pages
from .bodies import BodyTooLarge, read_body

COOKIE = "stepline_console"
MAX_LOGIN_BYTES = 4096


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") only accepts local connections."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


class LoginRequired:
    """ASGI middleware: every request but the login page needs the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        if request.url.path == "/login":
            response = await self._login(request)
            await response(scope, receive, send)
            return
        if self._authorised(request):
            await self.app(scope, receive, send)
            return
        if request.url.path.startswith("/api/"):
            response = pages.json_error(401, "log in first: the console needs its token")
        else:
            response = pages.login_page(status_code=401)
        await response(scope, receive, send)

    def _authorised(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and _matches(bearer[7:].strip(), self.token):
            return True
        return _matches(request.cookies.get(COOKIE, ""), self.token)

    async def _login(self, request: Request) -> Response:
        given = request.query_params.get("token", "")
        if request.method == "POST":
            # A urlencoded form of one field: no multipart parser needed.
            try:
                body = (await read_body(request, MAX_LOGIN_BYTES)).decode(errors="replace")
            except BodyTooLarge:
                return pages.login_page("the form is too large", status_code=413)
            given = parse_qs(body).get("token", [""])[0]
        if not given:
            return pages.login_page()
        if not _matches(given, self.token):
            return pages.login_page("wrong token", status_code=401)
        response = pages.redirect("/")
        # Secure over TLS (its own, or a proxy's that ends it on loopback, as
        # uvicorn trusts X-Forwarded-Proto from there): never sent in clear.
        secure = request.url.scheme == "https"
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", secure=secure)
        return response
