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

import httpx
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


def multi_objective_spec(deployment: Deployment) -> dict[str, Any]:
    """Accuracy up and parameters down over the table: a two-objective BONAS search."""
    return {
        **search_spec(deployment),
        "name": "browser-pareto",
        "objective": None,
        "objectives": [
            {"metric": OBJECTIVE, "goal": "maximize"},
            {"metric": "params_M_cifar10", "goal": "minimize"},
        ],
        "budget": {"evaluations": 15},
        "seed": 11,
    }


def svg_text(browser: Browser, selector: str) -> str:
    return str(
        browser.driver.execute_script(
            "const n = document.querySelector(arguments[0]); return n ? n.textContent : ''",
            selector,
        )
    )


def test_the_pareto_panel_draws_a_multi_objective_front(
    browser: Browser, deployment: Deployment
) -> None:
    driver = browser.driver
    spec = {k: v for k, v in multi_objective_spec(deployment).items() if v is not None}
    search_id = deployment.submit(spec)
    if not deployment.workers:
        deployment.start_worker("browser-worker")
    driver.get(f"{deployment.url}/#search={search_id}")
    if visible(browser, "login"):
        sign_in(browser, deployment.tokens["user"])
    browser.wait_for(lambda: visible(browser, "main"), "the dashboard")
    # After the earlier test the page is already open, and a new hash alone is read against the
    # summary it holds: open the search by clicking its row once the list shows it.
    row = f'#searches tr[data-search-id="{search_id}"]'
    browser.wait_for(lambda: browser.count(row) == 1, "the search in the list")
    driver.find_element("css selector", row).click()
    browser.wait_for(
        lambda: deployment.search(search_id)["state"] == "completed",
        "the multi-objective search to complete",
        timeout_s=400,
    )
    answer = httpx.get(
        f"{deployment.url}/api/v1/searches/{search_id}/pareto",
        headers={"Authorization": f"Bearer {deployment.tokens['user']}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    pareto = answer.json()
    assert pareto["multi_objective"] and len(pareto["points"]) == 15 and pareto["front"]
    front = len(pareto["front"])
    # Results whose table row lacks a value of an objective are listed but cannot be drawn.
    drawn = sum(1 for p in pareto["points"] if None not in p["values"][:2])
    lacking = 15 - sum(1 for p in pareto["points"] if None not in p["values"])

    browser.wait_for(lambda: visible(browser, "panel-pareto"), "the Pareto panel")
    measured = "#chart-pareto circle.pt-pareto, #chart-pareto circle.pt-infeasible"
    browser.wait_for(  # the panel refreshes on each report: wait for the last one's picture
        lambda: (
            browser.count(measured) == drawn
            and browser.count("#chart-pareto circle.pt-pareto-front") == front
        ),
        f"{drawn} measured points and {front} front markers, as the API's front",
    )
    assert browser.count("#chart-pareto path.line-pareto") == 1
    assert "(millions)" in svg_text(browser, "#chart-pareto")  # params_M's hint: millions
    assert browser.count("#chart-hypervolume path.line-hypervolume") == 1
    assert "hypervolume" in svg_text(browser, "#chart-hypervolume")
    note = browser.text("#pareto-note")
    assert f"{front} of 15 results on the front" in note
    assert (f"{lacking} results lack" in note) == (lacking > 0)
    browser.screenshot("06-pareto")

    # Any front point exports, not only the best.
    point = pareto["front"][-1]["architecture_id"]
    exported = httpx.get(
        f"{deployment.url}/api/v1/searches/{search_id}/architectures/{point}/export",
        headers={"Authorization": f"Bearer {deployment.tokens['user']}"},
        timeout=60,
    )
    assert exported.status_code == 200 and exported.json()["key"] == pareto["front"][-1]["key"]
    assert js_errors(browser) == []
