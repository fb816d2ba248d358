"""Parse and check search-space declarations (plain data from JSON or YAML; no code runs).

A declaration is a mapping with a `type`:

* built-ins: `{"type": "nb201"}`, `{"type": "nb101"}`, `{"type": "darts"}`;
* a cell DAG in the NAS-Bench-201 style:
  `{"type": "cell", "name": "mycell", "num_nodes": 4, "ops": ["none", "skip_connect", "conv3x3"]}`;
* a macro space, a chain of layers each choosing an op:
  `{"type": "macro", "name": "mynet", "layers": [{"name": "conv1", "ops": ["conv3x3", "skip"]},
  ...]}`, or the shorthand `{"type": "macro", "num_layers": 6, "ops": [...]}` where every layer
  shares one op list (a layer may also be given as a bare list of ops).

`parse_space_spec` turns a declaration into a frozen spec object, or raises
`InvalidSpaceSpecError` whose message names the offending field (as a path such as
`spec.layers[2].ops[0]`) and says what is accepted. `surrogate.spaces.registry` builds the space.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from surrogate.exceptions import InvalidSpaceSpecError
from surrogate.spaces.cell import cell_space_size
from surrogate.spaces.macro import MacroLayer

BUILTIN_TYPES = ("nb201", "nb101", "darts")
USER_TYPES = ("cell", "macro")
SPACE_TYPES = BUILTIN_TYPES + USER_TYPES

MIN_NUM_NODES = 2
MAX_NUM_NODES = 10
MAX_LAYERS = 64
MAX_OPS = 64

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
"""Space, layer and op names: letters, digits, `_`, `.`, `-`; at most 64 characters.

This keeps names safe inside keys and strings (`|`, `~`, `+`, `>` never occur in them), in URLs
and in file names.
"""

NAME_RULE = (
    "1 to 64 characters from letters, digits, '_', '.', '-', starting with a letter or digit"
)

ROOT = "spec"


@dataclass(frozen=True)
class BuiltinSpaceSpec:
    """A built-in space, named by its type (`nb201`, `nb101` or `darts`)."""

    type: str


@dataclass(frozen=True)
class CellSpaceSpec:
    """A user cell DAG (see `surrogate.spaces.cell.CellSpace`)."""

    name: str
    num_nodes: int
    ops: tuple[str, ...]


@dataclass(frozen=True)
class MacroSpaceSpec:
    """A user chain of layers (see `surrogate.spaces.macro.MacroSpace`)."""

    name: str
    layers: tuple[MacroLayer, ...]


SpaceSpec = BuiltinSpaceSpec | CellSpaceSpec | MacroSpaceSpec


def parse_space_spec(raw: object) -> SpaceSpec:
    """Check a declaration and return its spec object.

    Args:
        raw: The declaration, as `json.loads` or `yaml.safe_load` returns it.

    Raises:
        InvalidSpaceSpecError: The declaration is malformed; the message says where and why.
    """
    spec = _mapping(raw, ROOT)
    if "type" not in spec:
        _fail(ROOT, f"missing key 'type'; accepted types: {', '.join(SPACE_TYPES)}")
    space_type = spec["type"]
    if not isinstance(space_type, str) or space_type not in SPACE_TYPES:
        _fail(f"{ROOT}.type", f"unknown type {space_type!r}; accepted: {', '.join(SPACE_TYPES)}")
    if space_type in BUILTIN_TYPES:
        _check_keys(spec, ROOT, required=("type",), optional=())
        return BuiltinSpaceSpec(type=space_type)
    if space_type == "cell":
        return _parse_cell(spec)
    return _parse_macro(spec)


def _parse_cell(spec: Mapping[str, Any]) -> CellSpaceSpec:
    _check_keys(spec, ROOT, required=("type", "num_nodes", "ops"), optional=("name",))
    name = _space_name(spec, default="cell")
    num_nodes = spec["num_nodes"]
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
        _fail(f"{ROOT}.num_nodes", f"must be an integer, got {_describe(num_nodes)}")
    if not MIN_NUM_NODES <= num_nodes <= MAX_NUM_NODES:
        _fail(
            f"{ROOT}.num_nodes",
            f"{num_nodes} is out of range; accepted: {MIN_NUM_NODES} to {MAX_NUM_NODES} "
            "(input and output nodes included)",
        )
    ops = _op_list(spec["ops"], f"{ROOT}.ops")
    if cell_space_size(num_nodes, len(ops)) < 2:
        _fail(f"{ROOT}.ops", "a cell needs at least 2 ops, or the space holds a single cell")
    return CellSpaceSpec(name=name, num_nodes=num_nodes, ops=ops)


def _parse_macro(spec: Mapping[str, Any]) -> MacroSpaceSpec:
    if "layers" in spec and ("num_layers" in spec or "ops" in spec):
        _fail(ROOT, "give either 'layers', or 'num_layers' with 'ops' (the shorthand), not both")
    if "layers" in spec:
        _check_keys(spec, ROOT, required=("type", "layers"), optional=("name",))
        layers = _layers(spec["layers"], f"{ROOT}.layers")
    else:
        _check_keys(spec, ROOT, required=("type", "num_layers", "ops"), optional=("name",))
        layers = _shorthand_layers(spec["num_layers"], spec["ops"])
    if all(len(layer.ops) == 1 for layer in layers):
        _fail(
            f"{ROOT}.layers",
            "every layer has a single op, so the space holds one network; "
            "give at least one layer two or more ops",
        )
    return MacroSpaceSpec(name=_space_name(spec, default="macro"), layers=layers)


def _layers(raw: object, path: str) -> tuple[MacroLayer, ...]:
    if not isinstance(raw, list) or not raw:
        _fail(path, f"must be a non-empty list of layers, got {_describe(raw)}")
    _check_layer_count(len(raw), path)
    layers: list[MacroLayer] = []
    for i, item in enumerate(raw):
        item_path = f"{path}[{i}]"
        default_name = f"layer{i + 1}"
        if isinstance(item, list):
            layers.append(MacroLayer(name=default_name, ops=_op_list(item, item_path)))
            continue
        entry = _mapping(item, item_path)
        _check_keys(entry, item_path, required=("ops",), optional=("name",))
        name = _name(entry["name"], f"{item_path}.name") if "name" in entry else default_name
        layers.append(MacroLayer(name=name, ops=_op_list(entry["ops"], f"{item_path}.ops")))
    seen: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if layer.name in seen:
            _fail(
                f"{path}[{i}].name",
                f"duplicate layer name {layer.name!r} (also layer {seen[layer.name]}); "
                "layer names must be distinct",
            )
        seen[layer.name] = i
    return tuple(layers)


def _shorthand_layers(num_layers: object, ops: object) -> tuple[MacroLayer, ...]:
    path = f"{ROOT}.num_layers"
    if isinstance(num_layers, bool) or not isinstance(num_layers, int):
        _fail(path, f"must be an integer, got {_describe(num_layers)}")
    if num_layers < 1:
        _fail(path, f"{num_layers} is out of range; accepted: 1 to {MAX_LAYERS}")
    _check_layer_count(num_layers, path)
    op_names = _op_list(ops, f"{ROOT}.ops")
    return tuple(MacroLayer(name=f"layer{i + 1}", ops=op_names) for i in range(num_layers))


def _check_layer_count(count: int, path: str) -> None:
    if count > MAX_LAYERS:
        _fail(path, f"{count} layers is too many; accepted: 1 to {MAX_LAYERS}")


def _op_list(raw: object, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        _fail(path, f"must be a non-empty list of op names, got {_describe(raw)}")
    if len(raw) > MAX_OPS:
        _fail(path, f"{len(raw)} ops is too many; accepted: 1 to {MAX_OPS}")
    ops = tuple(_name(op, f"{path}[{i}]") for i, op in enumerate(raw))
    for i, op in enumerate(ops):
        if op in ops[:i]:
            _fail(f"{path}[{i}]", f"duplicate op {op!r}; op names within a list must be distinct")
    return ops


def _space_name(spec: Mapping[str, Any], default: str) -> str:
    if "name" not in spec:
        return default
    name = _name(spec["name"], f"{ROOT}.name")
    if name in BUILTIN_TYPES:
        _fail(f"{ROOT}.name", f"{name!r} is reserved for the built-in space; choose another name")
    return name


def _name(raw: object, path: str) -> str:
    if not isinstance(raw, str):
        hint = " (quote it in YAML)" if isinstance(raw, bool | int | float) or raw is None else ""
        _fail(path, f"must be a string, got {_describe(raw)}{hint}")
    if not NAME_PATTERN.fullmatch(raw):
        _fail(path, f"{raw!r} is not a valid name; accepted: {NAME_RULE}")
    return raw


def _mapping(raw: object, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        _fail(path, f"must be a mapping (a JSON object), got {_describe(raw)}")
    for key in raw:
        if not isinstance(key, str):
            _fail(path, f"keys must be strings, got {_describe(key)}")
    return raw


def _check_keys(
    spec: Mapping[str, Any], path: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    missing = [key for key in required if key not in spec]
    if missing:
        _fail(
            path, f"missing key(s) {', '.join(map(repr, missing))}; {_key_help(required, optional)}"
        )
    unknown = sorted(set(spec) - set(required) - set(optional))
    if unknown:
        _fail(
            path, f"unknown key(s) {', '.join(map(repr, unknown))}; {_key_help(required, optional)}"
        )


def _key_help(required: tuple[str, ...], optional: tuple[str, ...]) -> str:
    text = f"required: {', '.join(required)}"
    return f"{text}; optional: {', '.join(optional)}" if optional else text


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _fail(path: str, problem: str) -> NoReturn:
    raise InvalidSpaceSpecError(f"{path}: {problem}")
