"""Warms the fork server of the round processes: one tiny round, run once at its start.

Imported only by the fork server (it is the last of `isolation.PRELOAD`). A fresh process pays
about a second the first time it fits and scores a surrogate (torch's and BoTorch's lazy
initialisation of the operators they use), which every round's child would pay again; after
one tiny round in the server, children forked from it start warm, and a round costs what its
refit costs plus a few tens of milliseconds.

torch runs single-threaded here, so that no OpenMP thread pool exists when the server forks
(a pool does not survive a fork); each child sets its own thread count.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

_SPACE = {"type": "cell", "name": "warmup", "num_nodes": 3, "ops": ["skip", "conv", "pool"]}
_OPTIONS = {
    "n_init": 2,
    "pool_size": 8,
    "fit": {"epochs": 2, "warm_epochs": 1, "gcn": {"num_layers": 1, "width": 4}},
}


def warm_up() -> None:
    """Run one round of a tiny BONAS search in this process (errors are logged, not raised)."""
    try:
        import torch

        from service.controller.isolation import RoundJob, propose_round
        from service.search_spec import SearchSpec

        torch.set_num_threads(1)
        spec = SearchSpec.model_validate(
            {
                "name": "warmup",
                "space": _SPACE,
                "evaluator": {"kind": "table", "path": "warmup.csv"},
                "budget": {"evaluations": 8},
                "batch_size": 2,
                "strategy": {"name": "bonas", "options": _OPTIONS},
            }
        ).stored()
        first = propose_round(RoundJob(0, spec, None, None, [], [], [], (4,), 0, 0))
        observations = [(p.arch, float(i)) for i, p in enumerate(first.batches[0])]
        propose_round(RoundJob(0, spec, None, None, observations, [], [], (2,), 0, 1, 1))
    except Exception:  # a cold start is slower, not wrong
        logger.exception("warming up the round processes failed; rounds start cold")


warm_up()
