"""The routers stay thin: HTTP in `service/api/`, the rules in `service.usecases`.

Every module of `service/api/` is read with `ast` and held to three rules:

1. A route (a function decorated with ``@router.<method>(...)``) is at most `MAX_ROUTE_LINES`
   lines from its ``def`` to its end, its docstring not counted (docstrings are the OpenAPI
   description and should not be traded for length). A route declares its dependencies, calls
   one use case and returns a schema; anything longer is holding rules that belong elsewhere.
2. Nothing in `service/api/` calls ``utcnow()``: routes read the time from ``ClockDep`` (the
   app's clock, which tests replace with a fake one), so every write is timed by one clock.
3. No module of `service/api/` imports a repository (a name ending in ``Repository``),
   ``session_scope`` or ``utcnow`` from `service.store`, except `service/api/deps.py`, which
   builds the session and clock dependencies. Routes get their session from ``SessionDep`` or
   ``ReadSessionDep`` and leave reading and writing the store to the use cases. Domain types and
   enums (``ArchitectureSort``, ``BatchState``) and constants may still be imported: they are the
   vocabulary of the query parameters and answers.

Routes also do not compare states (``x.state == SearchState.PAUSED``): that is a business rule.

`KNOWN_EXCEPTIONS` lists what the code still does against rule 3 (and 2), each with why: it is a
ratchet, so a new breach fails, and so does an entry that no longer happens (delete it then).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
API_DIR = REPO_ROOT / "service" / "api"
MAX_ROUTE_LINES = 30
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
STORE_PLUMBING = frozenset({"session_scope", "utcnow"})
DEPENDENCY_MODULE = "deps.py"

KNOWN_EXCEPTIONS: frozenset[tuple[str, str, str]] = frozenset()
"""None left; an entry here must say why, and is an error once its breach is gone."""


def _is_route(node: ast.AST) -> bool:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "router"
            and target.attr in ROUTE_METHODS
        ):
            return True
    return False


def _route_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the end, less the docstring's."""
    assert node.end_lineno is not None
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        assert first.end_lineno is not None
        lines -= first.end_lineno - first.lineno + 1
    return lines


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _compares_a_state(node: ast.AST) -> bool:
    """Whether `node` holds a comparison with a ``...State.MEMBER`` value."""
    for compare in (n for n in ast.walk(node) if isinstance(n, ast.Compare)):
        for operand in [compare.left, *compare.comparators]:
            if (
                isinstance(operand, ast.Attribute)
                and isinstance(operand.value, ast.Name | ast.Attribute)
                and (
                    operand.value.id if isinstance(operand.value, ast.Name) else operand.value.attr
                ).endswith("State")
            ):
                return True
    return False


def breaches(name: str, source: str) -> Iterator[tuple[str, str, str]]:
    """(module file name, rule, what) for every breach of the rules in one module's source.

    Rules: ``route-length`` (what: the route and its length), ``call`` (``utcnow``), ``import``
    (the store name imported) and ``state-compare`` (the route).
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if _is_route(node):
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            length = _route_lines(node)
            if length > MAX_ROUTE_LINES:
                yield name, "route-length", f"{node.name}: {length} lines"
            if _compares_a_state(node):
                yield name, "state-compare", node.name
        elif isinstance(node, ast.Call) and _called_name(node) == "utcnow":
            yield name, "call", "utcnow"
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module is not None
            and (node.module == "service.store" or node.module.startswith("service.store."))
            and name != DEPENDENCY_MODULE
        ):
            for alias in node.names:
                if alias.name.endswith("Repository") or alias.name in STORE_PLUMBING:
                    yield name, "import", alias.name


def api_breaches(directory: Path = API_DIR) -> set[tuple[str, str, str]]:
    files = sorted(directory.glob("*.py"))
    assert files, f"no modules found in {directory}"
    return {b for path in files for b in breaches(path.name, path.read_text(encoding="utf-8"))}


def test_the_checker_sees_each_kind_of_breach() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_ROUTE_LINES))
    source = (
        "from service.store import BatchState, SearchRepository, session_scope, utcnow\n"
        "@router.get('/long')\n"
        "def long_route():\n"
        '    """A docstring does not count."""\n'
        f"{body}\n"
        "@router.post('/steer', status_code=201)\n"
        "def steer(search):\n"
        "    if search.state == SearchState.PAUSED:\n"
        "        return utcnow()\n"
        "def helper():\n"
        "    return store.utcnow()\n"
    )
    assert set(breaches("bad.py", source)) == {
        ("bad.py", "route-length", f"long_route: {MAX_ROUTE_LINES + 1} lines"),
        ("bad.py", "state-compare", "steer"),
        ("bad.py", "call", "utcnow"),
        ("bad.py", "import", "SearchRepository"),
        ("bad.py", "import", "session_scope"),
        ("bad.py", "import", "utcnow"),
    }
    short = "@router.get('/x')\ndef fine(clock):\n    '''Doc.'''\n    return clock()\n"
    assert set(breaches("fine.py", short)) == set()
    assert set(breaches(DEPENDENCY_MODULE, "from service.store import session_scope\n")) == set()


def test_routes_are_short_read_the_apps_clock_and_leave_the_store_to_the_use_cases() -> None:
    found = api_breaches()
    new = sorted(found - KNOWN_EXCEPTIONS)
    assert not new, (
        "service/api/ must hold HTTP only (short routes, ClockDep for the time, the store "
        f"behind service.usecases); move these into a use case: {new}"
    )
    gone = sorted(KNOWN_EXCEPTIONS - found)
    assert not gone, f"these listed breaches are gone; remove them from KNOWN_EXCEPTIONS: {gone}"
