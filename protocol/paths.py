"""Where the worker endpoints live and which protocol version they speak.

Both sides import these: the service mounts its routers under `API_PREFIX`, the daemon builds its
URLs from the ``*_PATH`` templates, so a moved route cannot leave a worker asking the old place.
"""

from __future__ import annotations

PROTOCOL_VERSION = 2
"""Bumped on any incompatible change; the controller refuses other versions at registration.

2: `Progress` lost ``total_epochs``, which no worker ever set (a version-1 worker still sends it
as null, and the strict models would refuse every heartbeat).
"""

API_PREFIX = "/api/v1"
WORKERS_PREFIX = f"{API_PREFIX}/workers"
REGISTER_PATH = f"{WORKERS_PREFIX}/register"
LEASE_PATH = f"{WORKERS_PREFIX}/{{worker_id}}/lease"
HEARTBEAT_PATH = f"{WORKERS_PREFIX}/{{worker_id}}/batches/{{batch_id}}/heartbeat"
REPORT_PATH = f"{WORKERS_PREFIX}/{{worker_id}}/batches/{{batch_id}}/report"
RELEASE_PATH = f"{WORKERS_PREFIX}/{{worker_id}}/batches/{{batch_id}}/release"

RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})
"""Statuses a client retries whatever the body says (409 is retried only with reason ``busy``)."""
