"""The controller: the BONAS loop run as a service, over the store.

For every running search the controller keeps up to ``batches_in_flight`` batches queued or
leased. A new search gets an initial batch from its strategy; after each reported batch the
strategy (surrogate and samplers) is refitted from the store's observations and the next batch is
proposed, with the architectures still in flight as pending points. Proposal work runs in a child
process per round (`service.controller.isolation`), with a time limit, several searches at once,
off the event loop, so the API stays responsive and no search's round holds another's. A reaper
re-queues batches whose lease expired (up to their attempts, then marks them failed). A search
completes at its budget (evaluations or wall time) with the reason recorded. Every state change
appends an event.

All state lives in the store (architectures with their proposal info, batches, results, surrogate
snapshots, events), so a restarted controller resumes every search where it stood: strategies are
rebuilt from the stored spec, the latest surrogate snapshot and the observations.

API (used by the app factory and the routers)::

    controller = Controller(engine, settings)   # builds nothing heavy, starts nothing
    await controller.start()    # lifespan start: resume active searches, start loop and reaper
    controller.notify(search_id)   # wake: a search was created, reported, resumed, paused,
                                   # cancelled; safe from any thread, never blocks
    await controller.stop()     # lifespan end: stop the loop, kill rounds in progress
    controller.step(search_id)  # synchronous: one round for one search (tests, scripts)

Routers change state through the store (create a search in state ``created``, record a report,
pause/resume/cancel) and then call `notify`; the controller moves ``created`` searches to
``running``, proposes, completes, and records events.
"""

from __future__ import annotations

from service.controller.loop import Controller
from service.controller.runner import SearchRunner, StepResult

__all__ = ["Controller", "SearchRunner", "StepResult"]
