"""Issue #10 after an upgrade: a search stored by an older version whose spec today's rules refuse.

Before data roots, a spec could name an absolute table path. Such a search must neither reach a
worker nor break the API: a lease of its batch answers 503 (the batch stays queued, no attempt is
spent), and the controller fails the search at its next round, saying why.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update

from service.controller import Controller
from service.settings import Settings
from service.store import BatchRepository, BatchState, SearchRepository, SearchState, session_scope
from service.store.tables import SearchRow
from tests.integration import test_api as base

make_api = base.make_api  # the fixture, shared with test_api


def test_a_stored_spec_that_todays_rules_refuse_is_retired_not_leased(
    make_api: Callable[..., base.Api],
) -> None:
    api = make_api()
    sid = api.submit(api.alice)["id"]
    batch_id = api.queue_batch(sid, base.NB201_ARCHS[:2])
    with session_scope(api.engine) as session:  # as an older version stored it
        stored = SearchRepository(session).get(sid).spec
        legacy = {**stored, "evaluator": {**stored["evaluator"], "path": "/etc/passwd"}}
        session.execute(update(SearchRow).where(SearchRow.id == sid).values(spec=legacy))

    client = api.worker_client()
    worker_id = base.register(client)
    answer = api.client(api.worker_token).post(
        f"/api/v1/workers/{worker_id}/lease", json={"evaluators": None}
    )
    assert answer.status_code == 503, answer.text
    assert answer.json()["reason"] == "busy" and "/etc/passwd" not in answer.text
    with session_scope(api.engine, read_only=True) as session:
        batch = BatchRepository(session).get(batch_id)
    assert batch.state == BatchState.QUEUED and batch.attempts == 0

    controller = Controller(api.engine, Settings(database_url="sqlite://"))
    result = controller.step(sid)
    assert result.state == SearchState.FAILED
    assert result.reason is not None and result.reason.startswith("invalid search spec")
    assert client.lease(worker_id).lease is None  # nothing of it is handed out any more
