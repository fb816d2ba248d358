"""User-declared spaces: cell DAGs and macro chains from JSON/YAML, and the errors for bad specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from surrogate.exceptions import (
    InvalidArchitectureError,
    InvalidSpaceSpecError,
    SpaceNotEnumerableError,
)
from surrogate.spaces import BUILTIN_SPACE_NAMES, get_space, load_space_file, space_from_spec
from surrogate.spaces.cell import CellSpace
from surrogate.spaces.macro import MacroLayer, MacroSpace
from surrogate.spaces.spec import MAX_LAYERS, CellSpaceSpec, MacroSpaceSpec, parse_space_spec

CELL_SPEC: dict[str, Any] = {
    "type": "cell",
    "name": "tiny-cell",
    "num_nodes": 3,
    "ops": ["none", "skip", "conv3x3"],
}
MACRO_SPEC: dict[str, Any] = {
    "type": "macro",
    "name": "chain",
    "layers": [
        {"name": "stem", "ops": ["conv3x3", "conv5x5"]},
        {"name": "body", "ops": ["conv3x3", "sep5x5", "skip"]},
        {"name": "head", "ops": ["avgpool"]},
    ],
}


# --- good specs -------------------------------------------------------------------------------


def test_cell_spec_builds_a_cell_space() -> None:
    space = space_from_spec(CELL_SPEC)
    assert isinstance(space, CellSpace)
    assert (space.name, space.num_nodes, space.ops) == ("tiny-cell", 3, ("none", "skip", "conv3x3"))
    assert space.size() == 27
    assert space.describe() == CELL_SPEC
    assert space_from_spec(space.describe()) == space


def test_user_cell_strings_graph_and_reachability() -> None:
    space = space_from_spec(CELL_SPEC)
    assert isinstance(space, CellSpace)
    arch = ("conv3x3", "none", "skip")  # edges 0->1, 0->2, 1->2
    assert space.to_string(arch) == "|conv3x3~0|+|none~0|skip~1|"
    assert space.from_string("|conv3x3~0|+|none~0|skip~1|") == arch
    assert space.output_reachable(arch)
    assert not space.output_reachable(("none", "none", "skip"))
    assert space.output_reachable(("none", "conv3x3", "none"))
    graph = space.to_graph(arch)
    assert graph.num_nodes == 5
    assert graph.edges == ((0, 1), (0, 2), (1, 3), (2, 4), (3, 4))
    # `skip` is recognised as the identity: skip after a copy equals the copy fed directly.
    assert space.isomorphism_key(("skip", "none", "skip")) == space.isomorphism_key(
        ("none", "skip", "none")
    )


def test_cell_without_a_zero_op_is_always_reachable() -> None:
    space = CellSpace("dense", 4, ["conv", "pool"])
    assert all(space.output_reachable(arch) for arch in space.enumerate())
    assert space.size() == 64


def test_two_node_cell_is_a_single_edge() -> None:
    space = CellSpace("edge", 2, ["a", "b"])
    assert list(space.enumerate()) == [("a",), ("b",)]
    assert space.to_string(("b",)) == "|b~0|"


def test_huge_cell_space_refuses_to_enumerate() -> None:
    space = space_from_spec({"type": "cell", "num_nodes": 10, "ops": ["a", "b", "c"]})
    assert space.size() == 3**45
    assert space.name == "cell"
    with pytest.raises(
        SpaceNotEnumerableError, match="more than the 10000000 that can be enumerated"
    ):
        space.enumerate()


def test_macro_spec_builds_a_macro_space() -> None:
    space = space_from_spec(MACRO_SPEC)
    assert isinstance(space, MacroSpace)
    assert space.cardinalities == (2, 3, 1)
    assert space.size() == 6
    assert space.describe() == MACRO_SPEC
    assert space_from_spec(space.describe()) == space
    archs = list(space.enumerate())
    assert archs[0] == ("conv3x3", "conv3x3", "avgpool")
    assert archs[-1] == ("conv5x5", "skip", "avgpool")
    assert len({space.key(arch) for arch in archs}) == 6


def test_macro_forms_and_graph() -> None:
    space = space_from_spec(MACRO_SPEC)
    arch = ("conv5x5", "sep5x5", "avgpool")
    assert space.key(arch) == "conv5x5>sep5x5>avgpool"
    assert space.to_json(arch) == {"layers": ["conv5x5", "sep5x5", "avgpool"]}
    assert space.from_json({"layers": ["conv5x5", "sep5x5", "avgpool"]}) == arch
    assert space.from_json("conv5x5>sep5x5>avgpool") == arch
    graph = space.to_graph(arch)
    vocabulary = space.node_vocabulary
    assert [vocabulary[k] for k in graph.node_labels] == ["input", *arch, "output"]
    assert graph.edges == ((0, 1), (1, 2), (2, 3), (3, 4))
    with pytest.raises(InvalidArchitectureError, match="unknown op 'sep5x5' for layer 'stem'"):
        space.validate(("sep5x5", "sep5x5", "avgpool"))
    with pytest.raises(InvalidArchitectureError, match="expected 3 layers"):
        space.from_json({"layers": ["conv5x5"]})


def test_macro_mutation_never_touches_a_fixed_layer() -> None:
    space = space_from_spec(MACRO_SPEC)
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for _ in range(20):
        mutated = space.mutate(arch, rng)
        assert mutated[2] == "avgpool"
        assert space.distance(arch, mutated) == 1


def test_macro_shorthand_and_bare_list_layers() -> None:
    shorthand = parse_space_spec({"type": "macro", "num_layers": 3, "ops": ["a", "b"]})
    assert isinstance(shorthand, MacroSpaceSpec)
    assert shorthand.name == "macro"
    assert shorthand.layers == tuple(MacroLayer(f"layer{i}", ("a", "b")) for i in (1, 2, 3))
    bare = parse_space_spec({"type": "macro", "name": "m", "layers": [["a", "b"], ["c"]]})
    assert isinstance(bare, MacroSpaceSpec)
    assert bare.layers == (MacroLayer("layer1", ("a", "b")), MacroLayer("layer2", ("c",)))
    space = space_from_spec({"type": "macro", "num_layers": 3, "ops": ["a", "b"]})
    assert space_from_spec(space.describe()) == space


def test_builtin_specs_and_names() -> None:
    assert BUILTIN_SPACE_NAMES == ("nb201", "nb101", "darts")
    nb201 = space_from_spec({"type": "nb201"})
    assert nb201 is get_space("nb201")
    with pytest.raises(InvalidSpaceSpecError, match="unknown search space 'nb301'; built-in"):
        get_space("nb301")


def test_spec_parsing_returns_frozen_values() -> None:
    parsed = parse_space_spec(CELL_SPEC)
    assert parsed == CellSpaceSpec("tiny-cell", 3, ("none", "skip", "conv3x3"))
    with pytest.raises(AttributeError):
        parsed.num_nodes = 5  # type: ignore[misc]


# --- bad specs --------------------------------------------------------------------------------

BAD_SPECS: list[tuple[object, str]] = [
    (["cell"], "spec: must be a mapping (a JSON object), got list"),
    ({"name": "x"}, "spec: missing key 'type'; accepted types: nb201, nb101, darts, cell, macro"),
    (
        {"type": "nb301"},
        "spec.type: unknown type 'nb301'; accepted: nb201, nb101, darts, cell, macro",
    ),
    ({"type": "nb201", "name": "mine"}, "spec: unknown key(s) 'name'; required: type"),
    ({"type": "cell", "ops": ["a", "b"]}, "spec: missing key(s) 'num_nodes'"),
    (
        {**CELL_SPEC, "edges": 3},
        "spec: unknown key(s) 'edges'; required: type, num_nodes, ops; optional: name",
    ),
    ({**CELL_SPEC, "num_nodes": 11}, "spec.num_nodes: 11 is out of range; accepted: 2 to 10"),
    ({**CELL_SPEC, "num_nodes": 1}, "spec.num_nodes: 1 is out of range"),
    ({**CELL_SPEC, "num_nodes": "4"}, "spec.num_nodes: must be an integer, got str '4'"),
    ({**CELL_SPEC, "num_nodes": True}, "spec.num_nodes: must be an integer, got bool True"),
    ({**CELL_SPEC, "ops": []}, "spec.ops: must be a non-empty list of op names, got list []"),
    ({**CELL_SPEC, "ops": "conv"}, "spec.ops: must be a non-empty list of op names, got str"),
    ({**CELL_SPEC, "ops": ["a", "b", "a"]}, "spec.ops[2]: duplicate op 'a'"),
    ({**CELL_SPEC, "ops": ["a", 3]}, "spec.ops[1]: must be a string, got int 3 (quote it in YAML)"),
    (
        {**CELL_SPEC, "ops": ["a", "conv|3"]},
        "spec.ops[1]: 'conv|3' is not a valid name; accepted: 1 to 64",
    ),
    ({**CELL_SPEC, "ops": ["a", ""]}, "spec.ops[1]: '' is not a valid name"),
    ({**CELL_SPEC, "ops": ["only"]}, "spec.ops: a cell needs at least 2 ops"),
    ({**CELL_SPEC, "name": "my cell"}, "spec.name: 'my cell' is not a valid name"),
    ({**CELL_SPEC, "name": "nb201"}, "spec.name: 'nb201' is reserved for the built-in space"),
    ({"type": "macro", "name": "m"}, "spec: missing key(s) 'num_layers', 'ops'"),
    ({"type": "macro", "layers": []}, "spec.layers: must be a non-empty list of layers"),
    (
        {"type": "macro", "layers": [{"ops": ["a", "b"]}], "num_layers": 2},
        "spec: give either 'layers', or 'num_layers' with 'ops'",
    ),
    ({"type": "macro", "layers": [{"name": "l1"}]}, "spec.layers[0]: missing key(s) 'ops'"),
    (
        {"type": "macro", "layers": [{"ops": ["a", "b"], "kind": "conv"}]},
        "spec.layers[0]: unknown key(s) 'kind'; required: ops; optional: name",
    ),
    ({"type": "macro", "layers": [{"ops": ["a", "b"]}, 7]}, "spec.layers[1]: must be a mapping"),
    (
        {"type": "macro", "layers": [{"ops": ["a", "b"]}, {"ops": ["a", None]}]},
        "spec.layers[1].ops[1]: must be a string, got NoneType None",
    ),
    (
        {
            "type": "macro",
            "layers": [{"name": "x", "ops": ["a", "b"]}, {"name": "x", "ops": ["c"]}],
        },
        "spec.layers[1].name: duplicate layer name 'x'",
    ),
    ({"type": "macro", "layers": [["a"], ["b"]]}, "every layer has a single op"),
    (
        {"type": "macro", "num_layers": MAX_LAYERS + 1, "ops": ["a", "b"]},
        f"spec.num_layers: {MAX_LAYERS + 1} layers is too many; accepted: 1 to {MAX_LAYERS}",
    ),
    ({"type": "macro", "num_layers": 0, "ops": ["a", "b"]}, "spec.num_layers: 0 is out of range"),
    (
        {"type": "macro", "layers": [["a", "b"]] * (MAX_LAYERS + 1)},
        f"spec.layers: {MAX_LAYERS + 1} layers is too many",
    ),
    ({"type": "macro", 1: "x"}, "spec: keys must be strings, got int 1"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_specs_are_rejected_with_the_field_and_what_is_accepted(
    spec: object, message: str
) -> None:
    with pytest.raises(InvalidSpaceSpecError) as error:
        space_from_spec(spec)
    assert message in str(error.value)


# --- files ------------------------------------------------------------------------------------


def test_json_and_yaml_files_load(tmp_path: Path) -> None:
    json_file = tmp_path / "space.json"
    json_file.write_text(json.dumps(MACRO_SPEC))
    assert load_space_file(json_file).describe() == MACRO_SPEC
    yaml_file = tmp_path / "space.yml"
    yaml_file.write_text("type: cell\nname: tiny-cell\nnum_nodes: 3\nops: [none, skip, conv3x3]\n")
    assert load_space_file(str(yaml_file)).describe() == CELL_SPEC


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.yaml", None, "missing.yaml: no such space file"),
        (
            "space.toml",
            "type = 'nb201'",
            "unsupported file type '.toml'; accepted: .json, .yaml, .yml",
        ),
        ("bad.json", '{"type": "cell",', "bad.json: invalid JSON at line 1"),
        ("bad.yaml", "type: [cell\n", "bad.yaml: invalid YAML"),
        # safe_load refuses to build Python objects: no code from a space file ever runs.
        ("evil.yaml", "!!python/object/apply:os.system ['true']\n", "evil.yaml: invalid YAML"),
        # YAML 1.1 reads a bare `on` as a boolean; the message says to quote it.
        (
            "bool.yaml",
            "type: macro\nnum_layers: 2\nops: [on, off]\n",
            "bool.yaml: spec.ops[0]: must be a string, got bool True (quote it in YAML)",
        ),
        ("list.yaml", "- nb201\n", "list.yaml: spec: must be a mapping"),
    ],
)
def test_bad_files_are_rejected(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InvalidSpaceSpecError) as error:
        load_space_file(path)
    assert message in str(error.value)


def test_constructors_refuse_names_that_would_break_the_string_form() -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        CellSpace("bad", 3, ["a", "b+c"])
    with pytest.raises(ValueError, match="cannot contain"):
        MacroSpace("bad", [MacroLayer("l1", ("a", "b>c"))])
    with pytest.raises(ValueError, match="at least 2 nodes"):
        CellSpace("bad", 1, ["a", "b"])
