"""Python client of the bonas API: submit searches, follow them, fetch what they found.

Example::

    from service.client import BonasClient, load_spec_file

    with BonasClient("http://127.0.0.1:8000", token) as bonas:
        search = bonas.submit(load_spec_file("spec.yaml"))
        done = bonas.wait(search.id)          # a progress bar until the search ends
        print(done.best.key, done.best.objective)
        bonas.export(search.id, "best.json")

Answers are the API's own response models (`service.schemas`). Refusals raise `BonasApiError`
with the status, the API's ``reason`` and its message. Reads are retried briefly when the
server is unreachable or busy (503); writes are not, so nothing is submitted twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from protocol import API_PREFIX
from service.schemas import (
    ArchitectureOut,
    EventsPage,
    HealthOut,
    Page,
    ParetoOut,
    SearchOut,
    TokenCreated,
    WorkerOut,
)
from service.states import SearchState

M = TypeVar("M", bound=BaseModel)

READ_RETRIES = 5
RETRY_PAUSE_S = 0.5
TERMINAL_STATES = frozenset(s for s in SearchState if s.terminal)


class BonasApiError(Exception):
    """The API refused a request, or could not be reached.

    Attributes:
        status_code: The HTTP status (0 when the server could not be reached).
        reason: The API's machine-readable reason (``not_found``, ``forbidden``...).
        detail: The API's message.
    """

    def __init__(self, status_code: int, reason: str, detail: str) -> None:
        where = f"HTTP {status_code}" if status_code else "unreachable"
        super().__init__(f"{where} ({reason}): {detail}")
        self.status_code = status_code
        self.reason = reason
        self.detail = detail


MAX_SPEC_BYTES = 1024 * 1024
"""Largest spec file read (the service's default body limit)."""


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases.

    Aliases let a few hundred bytes expand into gigabytes (the "billion laughs" document); a spec
    never needs them, so the scanner refuses the first ``&anchor`` or ``*alias`` it meets.
    """

    def fetch_anchor(self) -> None:
        raise _NoAliases(self.get_mark())

    def fetch_alias(self) -> None:
        raise _NoAliases(self.get_mark())


class _NoAliases(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(
            f"anchors and aliases (&name, *name) are not accepted in a spec (line "
            f"{mark.line + 1}, column {mark.column + 1}); write the values out"
        )


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a search spec from a YAML or JSON file.

    Files above `MAX_SPEC_BYTES` and YAML anchors or aliases are refused, so that a hostile or
    broken file cannot hang the client. Messages give the position of a syntax error, never the
    file's text.

    Raises:
        ValueError: The file is too large, not a mapping, or not valid YAML/JSON (the message
            names it).
        OSError: The file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise ValueError(f"{path} holds {size} bytes; a spec may hold at most {MAX_SPEC_BYTES}")
    with path.open("rb") as handle:
        raw = handle.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:  # grew since stat, or not a regular file
        raise ValueError(f"{path} holds more than {MAX_SPEC_BYTES} bytes, the most a spec may")
    text = raw.decode("utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, _SpecLoader)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {_yaml_problem(error)}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping (name, space, evaluator, budget, ...)")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What is wrong and where, without the snippet of the file PyYAML quotes."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        return f"{error.problem or error.context or 'syntax error'}{where}"
    return str(error)


class BonasClient:
    """Typed calls to the bonas API with one bearer token.

    Args:
        base_url: The service's root URL (``http://host:8000``).
        token: An API token (``bonas token create``).
        timeout_s: Timeout of one request (exports of modules take a few seconds).
        transport: An httpx transport (tests).
        sleep: How to pause between polls and retries.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )

    # --- searches -------------------------------------------------------------------------------

    def submit(self, spec: Mapping[str, Any] | BaseModel) -> SearchOut:
        """Submit a search (a spec mapping or a `service.search_spec.SearchSpec`)."""
        body = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec)
        return self._call("POST", "/searches", SearchOut, json=body)

    def get(self, search_id: int) -> SearchOut:
        """A search with its counts, budget and best architecture so far."""
        return self._call("GET", f"/searches/{search_id}", SearchOut)

    def searches(
        self, *, states: list[str] | None = None, limit: int = 50, offset: int = 0
    ) -> Page[SearchOut]:
        """A page of searches (your own, or everyone's with an admin token), newest first."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if states:
            params["state"] = states
        return self._call("GET", "/searches", Page[SearchOut], params=params)

    def pause(self, search_id: int) -> SearchOut:
        return self._call("POST", f"/searches/{search_id}/pause", SearchOut)

    def resume(self, search_id: int) -> SearchOut:
        return self._call("POST", f"/searches/{search_id}/resume", SearchOut)

    def cancel(self, search_id: int) -> SearchOut:
        return self._call("POST", f"/searches/{search_id}/cancel", SearchOut)

    def architectures(
        self,
        search_id: int,
        *,
        sort: str = "id",
        descending: bool = False,
        evaluated: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[ArchitectureOut]:
        """A page of a search's architectures with results and predictions."""
        params: dict[str, Any] = {
            "sort": sort,
            "descending": descending,
            "limit": limit,
            "offset": offset,
        }
        if evaluated is not None:
            params["evaluated"] = evaluated
        return self._call(
            "GET", f"/searches/{search_id}/architectures", Page[ArchitectureOut], params=params
        )

    def best(self, search_id: int) -> ArchitectureOut | None:
        """The best feasible architecture so far, or None before the first result."""
        try:
            return self._call("GET", f"/searches/{search_id}/best", ArchitectureOut)
        except BonasApiError as error:
            if error.status_code == 404 and "no measured architecture" in error.detail:
                return None
            raise

    def pareto(self, search_id: int) -> ParetoOut:
        """The Pareto set of the search's feasible results under all its objectives, every
        measured point and the hypervolume after each result (one objective: the best)."""
        return self._call("GET", f"/searches/{search_id}/pareto", ParetoOut)

    def export(
        self,
        search_id: int,
        path: str | Path,
        *,
        format: str | None = None,
        architecture_id: int | None = None,
        **size: int,
    ) -> Path:
        """Write the best architecture (or the one `architecture_id` names, e.g. a point of the
        Pareto front) to `path`: genotype JSON, TorchScript or a state dict.

        The format follows the file's suffix unless given: ``.json`` genotype, ``.pt`` or
        ``.torchscript`` TorchScript, ``.pth`` state dict. `size` may override the network's
        ``num_classes``, ``in_channels``, ``channels`` and ``cells_per_stage``.
        """
        path = Path(path)
        chosen = format or _format_of(path)
        which = "best" if architecture_id is None else f"architectures/{architecture_id}"
        response = self._send(
            "GET",
            f"/searches/{search_id}/{which}/export",
            params={"format": chosen, **size},
            retry=True,
        )
        path.write_bytes(response.content)
        return path

    def events(
        self, *, after: int = 0, search_id: int | None = None, limit: int = 100
    ) -> EventsPage:
        """Events after the cursor `after` (keep ``next_after`` for the next call)."""
        params: dict[str, Any] = {"after": after, "limit": limit}
        if search_id is not None:
            params["search_id"] = search_id
        return self._call("GET", "/events", EventsPage, params=params)

    def wait(
        self,
        search_id: int,
        *,
        poll_s: float = 2.0,
        timeout_s: float | None = None,
        progress: bool = True,
        console: Console | None = None,
    ) -> SearchOut:
        """Poll a search until it completes, is cancelled or fails, with a progress bar.

        Raises:
            TimeoutError: `timeout_s` passed first.
        """
        started = time.monotonic()
        search = self.get(search_id)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not progress,
        )
        with bar:
            task = bar.add_task(
                f"search {search_id}", total=search.budget.evaluations, status=_status(search)
            )
            while True:
                bar.update(task, completed=search.counts.done, status=_status(search))
                if search.state in TERMINAL_STATES:
                    return search
                if timeout_s is not None and time.monotonic() - started > timeout_s:
                    raise TimeoutError(
                        f"search {search_id} is still {search.state.value} after {timeout_s} s"
                    )
                self._sleep(poll_s)
                search = self.get(search_id)

    # --- the rest -------------------------------------------------------------------------------

    def workers(self, *, limit: int = 50, offset: int = 0) -> Page[WorkerOut]:
        return self._call(
            "GET", "/workers", Page[WorkerOut], params={"limit": limit, "offset": offset}
        )

    def create_token(self, role: str, owner: str, label: str | None = None) -> TokenCreated:
        """Create a token (admin tokens only); the secret is in the answer, once."""
        body = {"role": role, "owner": owner, "label": label}
        return self._call("POST", "/tokens", TokenCreated, json=body)

    def health(self) -> HealthOut:
        return self._call("GET", "/health", HealthOut)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BonasClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- machinery ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        response = self._send(method, path, retry=method == "GET", **kwargs)
        return model.model_validate_json(response.content)

    def _send(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        tries = READ_RETRIES if retry else 1
        for attempt in range(1, tries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                if attempt == tries:
                    raise BonasApiError(0, "unreachable", f"{self.base_url}: {error}") from error
            else:
                if response.status_code != 503 or attempt == tries:
                    break
            self._sleep(RETRY_PAUSE_S * attempt)
        if response.is_success:
            return response
        reason, detail = _error_of(response)
        raise BonasApiError(response.status_code, reason, detail)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "http_error", response.text[:1000] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("reason", "http_error")), str(body.get("detail", body))
    return "http_error", str(body)[:1000]


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".pth":
        return "state_dict"
    if suffix in (".pt", ".torchscript"):
        return "torchscript"
    raise ValueError(
        f"cannot tell the export format from {path.name!r}: use .json (genotype), .pt "
        "(TorchScript) or .pth (state dict), or pass the format"
    )


def _status(search: SearchOut) -> str:
    best = (
        ""
        if search.best is None or search.best.objective is None
        else (f" best {search.best.objective:.4g}")
    )
    flight = search.counts.in_flight + search.counts.queued
    return f"{search.state.value}, {flight} in flight{best}"
