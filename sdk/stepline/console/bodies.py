"""Request bodies read up to a cap and no further: a client may send gigabytes,
to the login page too, before it is anyone."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(ValueError):
    """The body went past the cap; what was read of it is dropped."""


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or `BodyTooLarge` as soon as it passes `max_bytes`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(f"the body is over {max_bytes} bytes")
    return bytes(body)
