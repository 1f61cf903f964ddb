"""A real headless Chromium from the system's packages (scripts/test installs
Debian's), driven by playwright, which never downloads a browser here."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# As root, in a container: no sandbox, nothing that phones home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


def require_chromium() -> None:
    """Skip, saying why, where the machine has no Chromium (scripts/test installs it)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("no Chromium at /usr/bin/chromium: scripts/test installs Debian's chromium")


@dataclass
class BrowserPage:
    """A page and every error its console reported (console.error and uncaught)."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")


@contextlib.asynccontextmanager
async def chromium_page(profile: Path) -> AsyncIterator[BrowserPage]:
    """A fresh Chromium profile in `profile`, at 1280x800, and its page."""
    require_chromium()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=FLAGS,
            headless=True,
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            watched = BrowserPage(page)
            page.on("console", watched.on_console)
            page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
            yield watched
        finally:
            await context.close()
