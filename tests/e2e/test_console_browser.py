"""The web console in a real headless Chromium: a run started from the SDK
appears live on the runs page, its page follows it superstep by superstep
without a reload, its request is answered through the form, its checkpoints'
states and a diff are shown, and the browser console stays free of errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Dialog, Page, expect

from stepline import RunnerClient
from stepline.v1 import events_pb2 as E
from tests.executors.approvals import Order, approve_workflow
from tests.support.browser import BrowserPage, chromium_page, require_chromium
from tests.support.cluster import Cluster, cluster_fixture
from tests.support.console import start_console
from tests.support.processes import Service
from tests.support.runs import until_waiting

pytestmark = pytest.mark.asyncio(loop_scope="module")

cluster = cluster_fixture("faults", scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cluster: Cluster) -> RunnerClient:
    client = cluster.client()
    await client.register_workflow(approve_workflow(cluster.addresses[0]))
    return client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def console(cluster: Cluster) -> AsyncIterator[Service]:
    require_chromium()
    async with await start_console(cluster.runner.address) as service:
        yield service


@pytest_asyncio.fixture(loop_scope="module")
async def browser(tmp_path: Path) -> AsyncIterator[BrowserPage]:
    async with chromium_page(tmp_path / "profile") as page:
        yield page


async def open_run_from_runs_page(page: Page, base: str, client: RunnerClient) -> str:
    await page.goto(f"{base}/")
    await expect(page.locator("#live")).to_have_text("live")
    run = await client.start_run("approve", Order("o-7", 70))
    row = page.locator(f'tr[data-run="{run.run_id}"]')
    await expect(row).to_be_visible()  # appeared without a reload
    # From the keyboard: "/" to the search, the id, Enter opens the run.
    await page.keyboard.press("/")
    await page.keyboard.type(run.run_id[:12])
    await expect(page.locator("#runs tbody tr")).to_have_count(1)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/runs/{run.run_id}")
    return run.run_id


async def test_a_run_watched_answered_and_inspected_in_the_browser(
    browser: BrowserPage, console: Service, client: RunnerClient, tmp_path: Path
) -> None:
    page, base = browser.page, f"http://{console.address}"
    run_id = await open_run_from_runs_page(page, base, client)

    await expect(page.locator("#run-status")).to_have_text("idle_with_pending_requests")
    await expect(page.locator("#timeline tr[data-step]")).to_have_count(2)
    await expect(page.locator('li.node[data-node="boss"]')).to_have_class("node waiting")
    await page.evaluate("window.notReloaded = true")

    form = page.locator("form.request")
    await expect(form.locator("pre")).to_contain_text('"reviewer": "boss"')
    await form.locator("textarea").fill('{"approved": tru')
    await form.locator("button").click()
    await expect(form.locator(".error")).to_contain_text("not JSON")
    assert len(await client.list_pending_requests(run_id)) == 1  # nothing was sent
    await form.locator("textarea").fill('{"approved": true, "by": "ann"}')
    await form.locator("button").click()

    # The run goes on through supersteps 3 and 4 on the same page.
    await expect(page.locator("#run-status")).to_have_text("completed")
    await expect(page.locator("#timeline tr[data-step]")).to_have_count(4)
    await expect(page.locator('#timeline tr[data-step="4"]')).to_contain_text("close (")
    await expect(page.locator('li.node[data-node="close"]')).to_have_class("node done")
    assert await page.evaluate("window.notReloaded") is True
    await expect(page.locator("#requests")).to_have_text("None.")
    await expect(page.locator("#events")).to_contain_text('"status": "approved"')

    checkpoints = [c async for c in client.list_checkpoints(run_id)]
    await expect(page.locator("#checkpoints tbody tr")).to_have_count(len(checkpoints))
    asked = next(c.checkpoint_id for c in checkpoints if c.superstep == 2)
    decided = next(c.checkpoint_id for c in checkpoints if c.superstep == 3)
    view = page.locator("#checkpoint-view")
    await page.locator(f'tr[data-checkpoint="{asked}"] button').click()
    await expect(view).to_contain_text(f"checkpoint {asked} (superstep 2)")
    await expect(view).to_contain_text('"asked": 1')
    await page.locator(f'tr[data-checkpoint="{asked}"] input').check()
    await page.locator(f'tr[data-checkpoint="{decided}"] input').check()
    await page.locator("#diff").click()
    await expect(view).to_contain_text("~ boss")
    await expect(view).to_contain_text("+ $.decisions[0]: true")

    await page.locator("#filter-kind").select_option("EVENT_KIND_OUTPUT")
    await expect(page.locator("#events li")).to_have_count(1)
    await page.locator("#filter-kind").select_option("")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(tmp_path / "run-page.png"))
    assert browser.errors == []


async def test_workflows_and_executors_pages(
    browser: BrowserPage, console: Service, cluster: Cluster
) -> None:
    page, base = browser.page, f"http://{console.address}"
    await page.goto(f"{base}/workflows")
    await expect(page.locator('section[data-workflow="approve"]')).to_contain_text("intake → boss")
    await expect(
        page.locator('section[data-workflow="approve"] li[data-version="1"]')
    ).to_contain_text("v1: 3 executors, 2 edges")
    await page.goto(f"{base}/executors")
    row = page.locator(f'tr[data-endpoint="{cluster.addresses[0]}"]')
    await expect(row).to_contain_text("yes")
    await expect(row).to_contain_text("reviewer: accepts")
    await expect(row).to_contain_text("approve/boss")
    assert browser.errors == []


async def test_statuses_change_live_and_cancel_and_fork_ask_first(
    browser: BrowserPage, console: Service, client: RunnerClient
) -> None:
    page, base = browser.page, f"http://{console.address}"
    run = await client.start_run("approve", Order("o-8", 80))
    await until_waiting(client, run.run_id)
    await page.goto(f"{base}/")
    row = page.locator(f'tr[data-run="{run.run_id}"]')
    await expect(row).to_contain_text("idle_with_pending_requests")
    await page.locator("#filter-status").select_option("RUN_STATUS_CANCELLED")
    await expect(row).to_have_count(0)
    await page.locator("#filter-status").select_option("")
    await expect(row).to_have_count(1)

    await row.locator("a").click()
    await expect(page.locator("#run-status")).to_have_text("idle_with_pending_requests")
    answers = iter([False, True, True])  # dismiss the first question, accept the others
    questions: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if next(answers) else dialog.dismiss())

    page.on("dialog", on_dialog)
    await page.locator("#cancel").click()
    await expect(page.locator("#action-result")).to_have_text("")
    assert (await client.get_run(run.run_id)).status == E.RUN_STATUS_IDLE_WITH_PENDING_REQUESTS
    await page.locator("#cancel").click()
    await expect(page.locator("#run-status")).to_have_text("cancelled")
    assert questions[:2] == [f"Cancel run {run.run_id}?"] * 2

    checkpoints = [c async for c in client.list_checkpoints(run.run_id)]
    first = next(c for c in checkpoints if c.superstep == 1)
    await page.locator(f'tr[data-checkpoint="{first.checkpoint_id}"] input').check()
    await page.locator("#fork").click()
    await expect(page.locator("#action-result")).to_have_text("")
    await expect(page.locator("#run-facts")).to_contain_text(f"forked from {run.run_id}")
    assert questions[2] == f"Fork a new run from {first.checkpoint_id}?"
    await expect(page.locator("#run-status")).to_have_text("idle_with_pending_requests")
    assert browser.errors == []
