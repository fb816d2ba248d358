"""The dashboard in a real browser, against a real service and worker running a search.

A table-evaluator NAS-Bench-201 search with the BONAS strategy runs under ``bonas serve`` with
one ``bonas worker``; headless Chromium signs in and watches it. The test checks what a user
would: bad tokens are refused with a message; before any worker exists the page says so; the
best-so-far chart gains points while the search runs (with the random-search expectation
drawn); the top architectures show their cells as DAGs with NB201's 4 nodes and 6 op edges; the
surrogate, Kendall tau and Pareto charts fill in; the page fits a phone-sized window; a reload
keeps the session. Screenshots of each stage are saved under ``artifacts/browser/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Browser, Deployment
from tests.support.tables import OBJECTIVE, REPORTED

pytestmark = pytest.mark.slow

BUDGET = 40
FAST_BONAS = {
    "n_init": 10,
    "pool_size": 300,
    "fit": {"epochs": 20, "warm_epochs": 8, "gcn": {"num_layers": 2, "width": 32}},
}


def search_spec(deployment: Deployment) -> dict[str, Any]:
    return {
        "name": "browser-nb201",
        "space": "nb201",
        "evaluator": {
            "kind": "table",
            "path": deployment.table.name,
            "report_columns": list(REPORTED),
        },
        "objective": {"metric": OBJECTIVE},
        "budget": {"evaluations": BUDGET},
        "batch_size": 5,
        "batches_in_flight": 1,
        "strategy": {"name": "bonas", "options": FAST_BONAS},
        "seed": 7,
    }


def sign_in(browser: Browser, token: str) -> None:
    driver = browser.driver
    browser.wait_for(lambda: driver.find_element("id", "token-input").is_displayed(), "login")
    field = driver.find_element("id", "token-input")
    field.clear()
    field.send_keys(token)
    driver.find_element("id", "login-submit").click()


def visible(browser: Browser, element_id: str) -> bool:
    return bool(browser.driver.find_element("id", element_id).is_displayed())


def js_errors(browser: Browser) -> list[str]:
    return [
        str(entry["message"])
        for entry in browser.console()
        if entry.get("level") == "SEVERE" and entry.get("source") != "network"
    ]


def test_bad_tokens_are_refused_with_a_message(browser: Browser, deployment: Deployment) -> None:
    driver = browser.driver
    driver.get(f"{deployment.url}/")
    sign_in(browser, "bonas_this-token-was-never-issued-0000000000000")
    browser.wait_for(lambda: visible(browser, "login-error"), "the refusal")
    assert "Token refused" in browser.text("#login-error")
    assert not visible(browser, "main")

    sign_in(browser, deployment.tokens["worker"])
    browser.wait_for(lambda: "worker token" in browser.text("#login-error"), "the role refusal")
    assert not visible(browser, "main")
    assert driver.execute_script("return sessionStorage.length") == 0
    browser.screenshot("01-login-refused")
    assert js_errors(browser) == []


def test_dashboard_follows_a_running_search(browser: Browser, deployment: Deployment) -> None:
    driver = browser.driver
    search_id = deployment.submit(search_spec(deployment))
    driver.get(f"{deployment.url}/#search={search_id}")
    sign_in(browser, deployment.tokens["user"])
    browser.wait_for(lambda: visible(browser, "main"), "the dashboard after signing in")
    row = f'#searches tr[data-search-id="{search_id}"]'
    browser.wait_for(lambda: browser.count(row) == 1, "the search in the list")

    # Nothing runs yet, and the page says why.
    browser.wait_for(
        lambda: browser.count('#global-notices [data-code="no_workers"]') == 1,
        "the no-worker explanation",
        timeout_s=30,
    )
    assert "No worker has registered" in browser.text("#global-notices")
    browser.screenshot("02-no-workers")

    deployment.start_worker("browser-worker")
    browser.wait_for(
        lambda: "browser-worker" in browser.text('#workers tr[data-stale="false"]'),
        "the worker listed as live",
        timeout_s=120,
    )
    assert browser.count('#global-notices [data-code="no_workers"]') == 0

    # The chart gains points while the search runs.
    points = "#chart-progress circle.pt"
    first = browser.wait_for(lambda: browser.count(points), "the first points", timeout_s=180)
    state_then = deployment.search(search_id)["state"]
    browser.wait_for(
        lambda: browser.count(points) > first, "more points while it runs", timeout_s=240
    )
    assert state_then == "running", "the first observation was made while the search ran"
    assert browser.count("#chart-progress path.line-best") == 1
    browser.wait_for(
        lambda: browser.count("#chart-progress path.line-random") == 1,
        "the random-search expectation",
    )
    assert int(driver.execute_script("return Number(document.body.dataset.polls)")) > 0
    # The status names the last event with the server's label for its kind (no dotted kind).
    browser.wait_for(
        lambda: "last event: " in browser.text("#status-text"), "the last event in the status"
    )
    last = browser.text("#status-text").split("last event: ", 1)[1]
    assert last.split()[0] in {"batch", "search", "surrogate"} and "." not in last

    # The best architectures with their NB201 cells: 4 nodes, 6 op edges.
    card = "#top .arch-card"
    browser.wait_for(lambda: browser.count(card) >= 1, "the top architectures")
    assert browser.count(f"{card}:first-child svg.dag") == 1
    assert browser.count(f"{card}:first-child .dag-node") == 4
    assert browser.count(f"{card}:first-child .dag-edge") == 6
    # Every edge carries its op as a label; `none` edges are drawn faint, and labelled too.
    assert browser.count(f"{card}:first-child .dag-label") == 6
    assert browser.count(f"{card}:first-child .dag-label.zero") == browser.count(
        f"{card}:first-child .dag-edge.zero"
    )
    browser.screenshot("03-running")

    # Points have tooltips.
    from selenium.webdriver.common.action_chains import ActionChains

    dot = driver.find_element("css selector", points)
    ActionChains(driver).move_to_element(dot).perform()
    browser.wait_for(lambda: visible(browser, "tooltip"), "a tooltip on a point", timeout_s=10)
    assert "Evaluation #" in browser.text("#tooltip")
    ActionChains(driver).move_to_element(driver.find_element("id", "detail-title")).perform()
    browser.wait_for(lambda: not visible(browser, "tooltip"), "the tooltip to go", timeout_s=10)

    # The search completes; every chart has filled in.
    browser.wait_for(
        lambda: deployment.search(search_id)["state"] == "completed",
        "the search to complete",
        timeout_s=400,
    )
    browser.wait_for(
        lambda: browser.count('#search-notices [data-code="completed"]') == 1,
        "the completed state on the page",
    )
    browser.wait_for(lambda: browser.count(points) == BUDGET, "every evaluation as a point")
    browser.wait_for(lambda: browser.count("#chart-surrogate circle.pt") > 0, "predictions")
    browser.wait_for(lambda: browser.count("#chart-tau circle.pt") > 0, "Kendall tau by version")
    browser.wait_for(lambda: browser.count("#chart-tradeoff circle.pt-front") > 0, "Pareto front")
    assert "τ =" in browser.text("#surrogate-note")
    browser.screenshot("04-completed")

    # A phone-sized window: one column, nothing wider than the screen.
    driver.set_window_size(420, 900)
    browser.wait_for(
        lambda: driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        ),
        "a layout that fits 420 px",
        timeout_s=10,
    )
    browser.screenshot("05-narrow")
    driver.set_window_size(1440, 1000)

    # A reload keeps the session (the token lives in sessionStorage).
    driver.refresh()
    browser.wait_for(lambda: visible(browser, "main"), "the dashboard after a reload")
    assert not visible(browser, "login")
    assert js_errors(browser) == []
