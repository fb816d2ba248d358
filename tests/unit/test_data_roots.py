"""Data roots: names in specs resolve only under the operator's directories, errors leak nothing.

Issue #10, reproduction 1: a table path of ``.env`` or ``/proc/self/environ`` made the worker
and the service read the file and quote its first line. These tests pin the rules of
`workers.data_roots` (``..``, absolute paths, hidden names, control characters and symlinks out
of a root are refused; a missing file gets one message whether or not it exists elsewhere) and
check, through the table evaluator and the dataset loaders, that no message carries a line of a
file, a directory listing or a path of the worker's machine.
"""

from __future__ import annotations

import csv
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from protocol import BatchMember, Lease, TableEvaluatorSpec
from protocol import DatasetSpec as WireDatasetSpec
from protocol.names import DataPathError, check_name
from service.search_spec import TableEvaluator
from service.settings import Settings
from surrogate.spaces import get_space
from workers.data_roots import DataRoots
from workers.datasets import DatasetError, DatasetSpec, load_dataset
from workers.evaluators import EvaluatorContext, SpaceCache
from workers.evaluators.table import TableEvaluator as TableLookup
from workers.evaluators.weight_sharing import WeightSharingEvaluator
from workers.exceptions import EvaluationError

NB201 = get_space("nb201")
SECRET = "BONAS_ADMIN_TOKEN=s3cr3t-admin-token-0123456789"
"""The first line of every file a user must not be able to read."""


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """``root/`` (a data root) beside ``outside/`` holding a secret, with links between them."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.env").write_text(f"{SECRET}\nOTHER=1\n")
    (outside / "secret-dir").mkdir()
    (outside / "secret-dir" / "table.csv").write_text(f"{SECRET}\n")
    (root / "notes.csv").write_text(f"{SECRET}\nmore,text\n")
    (root / "sub").mkdir()
    (root / "sub" / "t.csv").write_text("arch_str,acc\n")
    (root / "link.csv").symlink_to(outside / "secret.env")
    (root / "dirlink").symlink_to(outside / "secret-dir")
    (root / "dangling.csv").symlink_to(outside / "nothing-here.csv")
    (root / "inner.csv").symlink_to(root / "sub" / "t.csv")
    return {"root": root, "outside": outside}


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/proc/self/environ", "absolute path"),
        ("/etc/shadow", "absolute path"),
        ("../secret.env", "'..'"),
        ("a/../../b", "'..'"),
        ("..", "'..'"),
        (".env", "hidden"),
        ("cfg/.ssh/id_rsa", "hidden"),
        ("~/x.csv", "'~'"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("", "empty"),
        (" ", "empty"),
        (".", "names no file"),
        ("x" * 1025, "longer than"),
    ],
)
def test_malformed_names_are_refused_without_the_filesystem(name: str, problem: str) -> None:
    with pytest.raises(DataPathError, match=problem):
        check_name(name)


def test_good_names_are_normalised() -> None:
    assert check_name("nb201/cifar10.csv") == "nb201/cifar10.csv"
    assert check_name("./a//b/./c.csv") == "a/b/c.csv"


@pytest.mark.parametrize("name", ["/proc/self/environ", "../secret.env", "a\x00b", ".env"])
def test_the_service_refuses_such_paths_at_submission(name: str) -> None:
    with pytest.raises(ValidationError, match="path"):
        TableEvaluator(path=name)
    with pytest.raises(ValidationError, match="path"):
        TableEvaluatorSpec(path=name, objective_column="acc")
    with pytest.raises(ValidationError, match="path"):
        WireDatasetSpec(name="cifar10", path=name)


# --- resolution ----------------------------------------------------------------------------------


def test_names_resolve_under_the_first_root_that_has_them(
    layout: dict[str, Path], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "only-here.csv").write_text("x\n")
    roots = DataRoots.of([layout["root"], other])
    assert roots.resolve("sub/t.csv", "file") == (layout["root"] / "sub" / "t.csv").resolve()
    assert roots.resolve("only-here.csv") == (other / "only-here.csv").resolve()
    assert roots.resolve("inner.csv", "file") == (layout["root"] / "sub" / "t.csv").resolve()
    assert roots.resolve("sub", "dir") == (layout["root"] / "sub").resolve()
    with pytest.raises(DataPathError, match="not a regular file"):
        roots.resolve("sub", "file")
    with pytest.raises(DataPathError, match="not a directory"):
        roots.resolve("sub/t.csv", "dir")


@pytest.mark.parametrize("name", ["link.csv", "dirlink/table.csv", "dirlink", "dangling.csv"])
def test_symlinks_out_of_a_root_are_refused(layout: dict[str, Path], name: str) -> None:
    with pytest.raises(DataPathError, match="escapes its data root through a symlink") as caught:
        DataRoots.of([layout["root"]]).resolve(name)
    assert str(layout["outside"]) not in str(caught.value)


def test_a_missing_file_reads_the_same_whether_or_not_it_exists_elsewhere(
    layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(layout["outside"])  # secret.env exists here, in the working directory
    roots = DataRoots.of([layout["root"]])
    with pytest.raises(DataPathError) as exists_elsewhere:
        roots.resolve("secret.env")
    with pytest.raises(DataPathError) as exists_nowhere:
        roots.resolve("nowhere.env")
    assert exists_elsewhere.value.problem == exists_nowhere.value.problem
    assert str(exists_elsewhere.value) == str(exists_nowhere.value).replace(
        "nowhere.env", "secret.env"
    )
    assert "no such file under the data roots" in str(exists_nowhere.value)


def test_without_roots_nothing_is_read(layout: dict[str, Path]) -> None:
    with pytest.raises(DataPathError, match="no data roots are configured"):
        DataRoots().resolve("notes.csv")


# --- the worker's table evaluator ----------------------------------------------------------------


def lease_for(path: str, **spec: Any) -> Lease:
    arch = NB201.sample(np.random.default_rng(0))
    return Lease(
        batch_id="b",
        attempt=1,
        lease_token="t",
        lease_expires_at=datetime.now(UTC),
        lease_seconds=10.0,
        heartbeat_interval_s=1.0,
        search_id="s",
        space=NB201.describe(),
        members=(BatchMember(key=NB201.key(arch), arch=NB201.to_json(arch)),),
        evaluator=TableEvaluatorSpec(path=path, objective_column="acc", **spec),
    )


def table_failure(root: Path, path: str, **spec: Any) -> str:
    lookup = TableLookup(EvaluatorContext(data_roots=DataRoots.of([root])), SpaceCache())
    with pytest.raises(EvaluationError) as caught:
        lookup.evaluate(lease_for(path, **spec), lambda p: None, lambda: False)
    return str(caught.value)


@pytest.mark.parametrize(
    ("path", "spec", "problem"),
    [
        ("notes.csv", {}, "table 'notes.csv': column 'arch_str' missing"),
        ("notes.csv", {"arch_column": SECRET.split(",")[0]}, "no numeric metric column"),
        ("link.csv", {}, "table 'link.csv': escapes its data root through a symlink"),
        ("dirlink/table.csv", {}, "escapes its data root through a symlink"),
        ("secret.env", {}, "table 'secret.env': no such file under the data roots"),
    ],
)
def test_table_errors_name_the_table_and_the_problem_only(
    layout: dict[str, Path], path: str, spec: dict[str, Any], problem: str
) -> None:
    message = table_failure(layout["root"], path, **spec)
    assert problem in message
    assert "s3cr3t" not in message and str(layout["root"]) not in message


def test_table_cells_and_headers_are_never_quoted(layout: dict[str, Path]) -> None:
    root = layout["root"]
    with (root / "bad.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_str", "acc", "secret-column-name"])
        writer.writerow([f"|{SECRET}~0|", "1.0", "2.0"])
    message = table_failure(root, "bad.csv")
    assert "line 2: the architecture cannot be read" in message
    assert "s3cr3t" not in message
    key = NB201.key(NB201.sample(np.random.default_rng(0)))
    (root / "header.csv").write_text(f"arch_str,{SECRET.replace('=', '')}\n{key},1\n")
    message = table_failure(root, "header.csv")
    assert "objective column 'acc' missing" in message and "s3cr3t" not in message
    (root / "binary.csv").write_bytes(b"arch_str\n\xff\xfe" + SECRET.encode())
    message = table_failure(root, "binary.csv")
    assert "not a UTF-8 text file" in message and "s3cr3t" not in message


# --- dataset loaders -----------------------------------------------------------------------------


def write_npy_class(directory: Path, count: int = 2) -> None:
    directory.mkdir(parents=True)
    for index in range(count):
        np.save(directory / f"{index}.npy", np.full((4, 4), index, dtype=np.uint8))


def dataset_failure(root: Path, name: str, path: str) -> str:
    evaluator = WeightSharingEvaluator(EvaluatorContext(data_roots=DataRoots.of([root])))
    with pytest.raises(EvaluationError) as caught:
        evaluator.dataset(WireDatasetSpec(name=name, path=path))
    return str(caught.value)


def test_image_folder_errors_list_no_directory(layout: dict[str, Path]) -> None:
    root = layout["root"]
    write_npy_class(root / "images" / "secret-class-alpha")
    message = dataset_failure(root, "imagefolder", "images")
    assert "expected at least two class folders, found 1" in message
    assert "secret-class-alpha" not in message and str(root) not in message


def test_image_folder_entries_may_not_leave_the_folder(layout: dict[str, Path]) -> None:
    root, outside = layout["root"], layout["outside"]
    write_npy_class(root / "images" / "a")
    write_npy_class(outside / "stolen")
    (root / "images" / "b").symlink_to(outside / "stolen")
    message = dataset_failure(root, "imagefolder", "images")
    assert "escapes the image folder through a symlink" in message
    assert str(outside) not in message
    (root / "images" / "b").unlink()
    write_npy_class(root / "images" / "b")
    (root / "images" / "b" / "2.npy").symlink_to(outside / "secret.env")
    message = dataset_failure(root, "imagefolder", "images")
    assert "'b/2.npy': escapes the image folder" in message


def test_an_undecodable_image_is_named_not_quoted(layout: dict[str, Path]) -> None:
    root = layout["root"]
    write_npy_class(root / "images" / "a")
    write_npy_class(root / "images" / "b")
    (root / "images" / "b" / "9.npy").write_text(f"{SECRET}\n")
    message = dataset_failure(root, "imagefolder", "images")
    assert "'b/9.npy': not a readable .npy array" in message
    assert "s3cr3t" not in message and str(root) not in message


@pytest.mark.parametrize(
    "content",
    [
        f"c{SECRET}\nname\n.".encode(),  # a GLOBAL opcode: module and name are the file's lines
        SECRET.encode(),  # "invalid load key" would quote the first byte
        b"\x80\x05" + SECRET.encode(),
    ],
    ids=["global", "text", "protocol-5"],
)
def test_cifar_errors_quote_no_byte_of_the_file(layout: dict[str, Path], content: bytes) -> None:
    cifar = layout["root"] / "cifar"
    cifar.mkdir()
    for index in range(1, 6):
        (cifar / f"data_batch_{index}").write_bytes(content)
    message = dataset_failure(layout["root"], "cifar10", "cifar")
    assert "data_batch_1" in message
    assert "s3cr3t" not in message and "BONAS" not in message and str(cifar) not in message


def test_cifar_batches_may_not_leave_the_dataset_root(layout: dict[str, Path]) -> None:
    cifar = layout["root"] / "cifar"
    cifar.mkdir()
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
    for index in range(1, 5):
        (cifar / f"data_batch_{index}").write_bytes(pickle.dumps(batch, protocol=2))
    (layout["outside"] / "data_batch_5").write_bytes(pickle.dumps(batch, protocol=2))
    (cifar / "data_batch_5").symlink_to(layout["outside"] / "data_batch_5")
    with pytest.raises(DatasetError, match="data_batch_5: escapes the dataset root"):
        load_dataset(DatasetSpec(name="cifar10", root=str(cifar.resolve())))


# --- configuration -------------------------------------------------------------------------------


def test_the_worker_command_passes_its_data_roots(
    layout: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workers.daemon
    from service.cli.main import app

    seen: list[Any] = []

    def run_daemon(options: Any) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(workers.daemon, "run_daemon", run_daemon)
    other = tmp_path / "other"
    other.mkdir()
    base = ["worker", "--server", "http://127.0.0.1:9", "--scratch", str(tmp_path / "s")]
    flags = ["--data-root", str(layout["root"]), "--data-root", str(other)]
    result = CliRunner().invoke(app, [*base, *flags], env={"BONAS_WORKER_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    roots = f"{layout['root']}:{other}"
    result = CliRunner().invoke(
        app, base, env={"BONAS_WORKER_TOKEN": "t", "BONAS_DATA_ROOTS": roots}
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, base, env={"BONAS_WORKER_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    assert [o.data_roots for o in seen] == [(layout["root"], other)] * 2 + [()]
    typo = ["--data-root", str(tmp_path / "no-such-dir")]
    result = CliRunner().invoke(app, [*base, *typo], env={"BONAS_WORKER_TOKEN": "t"})
    assert result.exit_code == 2 and "not directories" in result.output
    assert len(seen) == 3  # refused before any daemon starts


def test_the_service_setting_reads_a_path_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BONAS_DATA_ROOTS", f"{tmp_path}/a:{tmp_path}/b")
    assert Settings(_env_file=None).data_roots == [tmp_path / "a", tmp_path / "b"]  # type: ignore[call-arg]
    monkeypatch.setenv("BONAS_DATA_ROOTS", f'["{tmp_path}/c"]')
    assert Settings(_env_file=None).data_roots == [tmp_path / "c"]  # type: ignore[call-arg]
    monkeypatch.delenv("BONAS_DATA_ROOTS")
    assert Settings(_env_file=None).data_roots == []  # type: ignore[call-arg]
