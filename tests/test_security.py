"""Security (issue 7, item 6): input never runs code, output never clobbers, absurd input is refused fast.

* Case files and overrides: code-like strings (``__import__('os')...``,
  ``!!python/object``, ``${...}``, backticks, ...) put in every string value,
  key and override are invalid values (`CaseError`) or inert strings; no
  eval/exec/pickle runs while loading, and no module named by input is
  imported (a canary module on ``sys.path`` would leave a file if it were).
* The package source has no eval/exec/compile/pickle/shell calls and imports
  modules dynamically only from its own fixed table (checked on the AST).
* Result files are read with h5py only: pickled bytes and object dtypes in a
  file are refused, never unpickled.
* ``[output] path`` is relative to the case file's directory; ``pnp run``
  without ``--force`` never overwrites an existing file (bytes compared).
* Absurd inputs (2 MB file, nesting depth 50, 10,000 species, 1e12 cells,
  1000 regions x 1000 protocols, ...) are refused, or loaded, in under
  `LIMIT` seconds of CPU time each.
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib
import os
import pickle
import sys
import time
import tomllib
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import tomli_w
from helpers import pnp_subprocess

import pnp
from pnp.errors import CaseError, ResultFileError
from pnp.input import Case, CaseWarning, load_case, parse_override
from pnp.input.units import registry
from pnp.presentation.cli import main

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"
PACKAGE = ROOT / "pnp"
SHIPPED = sorted(CASES.glob("*.toml"))
# CPU seconds any absurd input may cost (CPU, not wall time: other processes
# on the machine do not make it flaky).
LIMIT = 1.0
CANARY_MODULE = "pnp_canary_module"


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """A file that appears if any payload runs, and a module that makes it on import."""
    target = tmp_path / "PWNED"
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / f"{CANARY_MODULE}.py").write_text(f"open({str(target)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(folder))
    yield target
    assert not target.exists(), "a payload ran"
    assert CANARY_MODULE not in sys.modules


def payloads(canary: Path) -> list[str]:
    touch = f"touch {canary}"
    return [
        f"__import__('os').system('{touch}')",
        f"!!python/object/apply:os.system ['{touch}']",
        "!!python/object:__main__.Evil {}",
        f"${{{touch}}}",
        "${HOME}",
        f"$({touch})",
        f"`{touch}`",
        f"; {touch}",
        f"| {touch}",
        "{{7*7}}",
        "%(x)s",
        "{0.__class__.__mro__}",
        f"eval(\"open('{canary}', 'w')\")",
        f"exec(compile(\"open('{canary}', 'w')\", 'x', 'exec'))",
        f"5 nm; __import__('os').system('{touch}')",
        "5 __import__",
        f"1 m**__import__('os').system('{touch}')",
        f"1 {CANARY_MODULE}",
        CANARY_MODULE,
        f"{CANARY_MODULE}.x",
        "().__class__.__bases__[0].__subclasses__()",
        "lambda: 0",
        f"cos(1)*{CANARY_MODULE}",
        "\x00\x1b[31m",
        "../../../../etc/passwd",
    ]


class Spy:
    """Records eval/exec/compile/pickle/import_module calls made while loading."""

    def __init__(self, monkeypatch):
        registry()  # pint, imported lazily, defines dataclasses (exec) on import
        self.calls: list[tuple[str, str]] = []
        for module, name in (
            (builtins, "eval"),
            (builtins, "exec"),
            (builtins, "compile"),
            (pickle, "loads"),
            (pickle, "load"),
            (importlib, "import_module"),
        ):
            original = getattr(module, name)
            monkeypatch.setattr(module, name, self._wrap(name, original))

    def _wrap(self, name, original):
        def spy(*args, **kwargs):
            # exec/eval/compile of source text; the import system's exec of
            # compiled library modules (a code object) is not input.
            if name not in ("exec", "eval", "compile") or isinstance(args[0], str | bytes):
                self.calls.append((name, repr(args[:1])[:80]))
            return original(*args, **kwargs)

        return spy


def _string_paths(node, prefix=()):
    if isinstance(node, str):
        yield prefix
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _string_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _string_paths(value, (*prefix, index))


def _set(data, path, value):
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _get(data, path):
    for part in path:
        data = data[part]
    return data


def _load_or_refuse(load, *args, **kwargs):
    try:
        return load(*args, **kwargs)
    except CaseError as exc:
        assert "\n" not in str(exc) and "\x1b" not in str(exc), str(exc)
        return None


def _inert(case: Case, payload: str) -> None:
    """An accepted payload is stored verbatim, as plain text."""
    stored = [case.title, case.output.path or "", *case.expect, *map(str, case.expect.values())]
    stored += [*case.species_names, *(r.name for r in case.regions)]
    stored += [str(p.set) for p in case.protocols] + [str(p) for p in case.pumps]
    stored += [str(c) for c in case.channels] + [str(s) for s in case.stimuli]
    assert any(payload in text for text in stored), (payload, stored)


# ---------------------------------------------------------------------------
# Case files and overrides never execute code
# ---------------------------------------------------------------------------


def test_code_in_every_string_value_is_invalid_or_inert(canary, monkeypatch):
    pnp.Case.from_dict(tomllib.loads(SHIPPED[0].read_text()))  # warm up (pint, scipy)
    spy = Spy(monkeypatch)
    tried = accepted = 0
    for path in SHIPPED:
        data = tomllib.loads(path.read_text())
        for where in _string_paths(data):
            for payload in payloads(canary):
                mutated = copy.deepcopy(data)
                _set(mutated, where, payload)
                case = _load_or_refuse(Case.from_dict, mutated)
                tried += 1
                if case is not None:
                    accepted += 1
                    _inert(case, payload)
    assert spy.calls == []
    assert tried > 1000 and 0 < accepted < tried


def test_code_in_case_files_keys_and_names_is_refused(canary, monkeypatch, tmp_path):
    base = tomllib.loads((CASES / "pump_leak.toml").read_text())
    spy = Spy(monkeypatch)
    for payload in payloads(canary):
        variants = []
        for table in (
            [],
            ["species"],
            ["region", 0],
            ["region", 0, "concentration"],
            ["boundary", "left"],
            ["pump"],
            ["expect"],
        ):
            data = copy.deepcopy(base)
            data.setdefault("expect", {})
            _get(data, table).setdefault(payload, 1)
            variants.append(data)
        renamed = copy.deepcopy(base)
        renamed["species"][payload] = renamed["species"].pop("K")
        variants.append(renamed)
        region = copy.deepcopy(base)
        region["region"][0]["name"] = payload
        variants.append(region)
        for data in variants:
            file = tmp_path / "hostile.toml"
            file.write_text(tomli_w.dumps(data))
            case = _load_or_refuse(load_case, file)
            if case is not None:  # a legal name (an [expect] entry, a region): inert text
                names = [*case.expect, *case.species_names, *(r.name for r in case.regions)]
                assert payload in names
    assert spy.calls == []


def test_code_in_overrides_is_refused_or_inert(canary, monkeypatch):
    data = tomllib.loads((CASES / "ischemia.toml").read_text())
    keys = [
        "title",
        "temperature",
        "geometry",
        "activity",
        "species.K.D",
        "region.bath.length",
        "region.bath.concentration.K",
        "boundary.right.potential",
        "pump.rate",
        "mesh.growth",
        "run.mode",
        "output.path",
        "expect.note",
    ]
    spy = Spy(monkeypatch)
    for payload in payloads(canary):
        for key in keys:
            case = _load_or_refuse(Case.from_dict, data, overrides={key: payload})
            if case is not None:
                _inert(case, payload)
            # The same through the command-line form.
            try:
                parsed_key, value = parse_override(f"{key}={payload}")
            except CaseError:
                continue
            _load_or_refuse(Case.from_dict, data, overrides={parsed_key: value})
        assert _load_or_refuse(Case.from_dict, data, overrides={payload: 1}) is None
        assert (
            _load_or_refuse(Case.from_dict, data, overrides={f"region.{payload}.length": 1}) is None
        )
    assert spy.calls == []


def test_code_in_protocols_is_refused(canary, monkeypatch):
    data = tomllib.loads((CASES / "ischemia.toml").read_text())
    spy = Spy(monkeypatch)
    for payload in payloads(canary):
        for changes in (
            {payload: 0},
            {"pump.rate": payload},
            {"boundary.right.potential": payload},
        ):
            hostile = copy.deepcopy(data)
            hostile["protocol"] = [{"at": "1 min", "set": changes}]
            assert _load_or_refuse(Case.from_dict, hostile) is None
    assert spy.calls == []


def test_pnp_check_with_hostile_set_runs_nothing(canary, tmp_path):
    for payload in payloads(canary)[:3]:
        proc = pnp_subprocess(
            "check",
            CASES / "nernst_k.toml",
            "--set",
            f"geometry={payload}",
            "--set",
            f"title={payload}",
            cwd=tmp_path,
            timeout=60,
            path=[canary.parent / "modules"],  # the canary modules, after this checkout's pnp
        )
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_package_attributes_never_import_modules_named_by_input(canary):
    for name in (CANARY_MODULE, "os", "subprocess", "pickle", "case.os", "../x", "__import__"):
        with pytest.raises(AttributeError):
            getattr(pnp, name)


# ---------------------------------------------------------------------------
# The source: no eval, exec, pickle, shell or input-named imports
# ---------------------------------------------------------------------------

FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
FORBIDDEN_ATTRIBUTE_CALLS = {
    "system",
    "popen",
    "spawnl",
    "spawnv",
    "execv",
    "execve",
    "load_pickle",
    "read_pickle",
    "parse_expression",
}
FORBIDDEN_MODULES = {
    "pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "marshal",
    "shelve",
    "yaml",
    "jsonpickle",
    "subprocess",
    "pty",
    "code",
    "codeop",
    "runpy",
}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_source_has_no_eval_exec_pickle_or_shell():
    problems = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    for file in files:
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names]
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.append(node.module)
                for name in names:
                    if name.split(".")[0] in FORBIDDEN_MODULES:
                        problems.append(
                            f"{file.relative_to(PACKAGE)}:{node.lineno}: imports {name}"
                        )
        for call in _calls(tree):
            func = call.func
            where = f"{file.relative_to(PACKAGE)}:{call.lineno}"
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                problems.append(f"{where}: calls {func.id}()")
            if isinstance(func, ast.Attribute):
                if func.attr in FORBIDDEN_ATTRIBUTE_CALLS | {"eval", "exec", "__import__"}:
                    problems.append(f"{where}: calls .{func.attr}()")
                if (
                    func.attr == "load"
                    and isinstance(func.value, ast.Name)
                    and func.value.id in ("np", "numpy")
                ):
                    problems.append(f"{where}: np.load can unpickle")
                if func.attr == "import_module" and file != PACKAGE / "__init__.py":
                    problems.append(f"{where}: dynamic import")
            for keyword in call.keywords:
                if keyword.arg in ("allow_pickle", "shell") and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    problems.append(f"{where}: {keyword.arg}=...")
    assert problems == []


def test_the_only_dynamic_imports_come_from_a_fixed_table():
    """`pnp/__init__.py` imports lazily, but only names of its own two tables."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imports = [
        c
        for c in _calls(tree)
        if isinstance(c.func, ast.Attribute) and c.func.attr == "import_module"
    ]
    assert len(imports) == 2
    modules = {
        ".".join(("pnp", *p.relative_to(PACKAGE).with_suffix("").parts))
        for p in PACKAGE.rglob("*.py")
    }
    packages = {m.removesuffix(".__init__") for m in modules if m.endswith(".__init__")}
    assert set(pnp._SUBMODULES.values()) <= modules | packages
    assert all(module.startswith("pnp.") for module, _ in pnp._LAZY.values())


# ---------------------------------------------------------------------------
# Result files are read without pickle
# ---------------------------------------------------------------------------


class _Evil:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("security") / "good.h5"
    pnp.run(pnp.load_case(CASES / "nernst_k.toml"), output=str(path))
    return path


def _hostile_copy(result_file, folder, name, edit):
    path = folder / f"{name}.h5"
    path.write_bytes(result_file.read_bytes())
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def test_pickled_objects_in_result_files_are_never_unpickled(
    result_file, tmp_path, canary, monkeypatch
):
    blob = np.void(pickle.dumps(_Evil(canary)))
    opaque = {
        "observable": lambda f: f["observables"].create_dataset("evil", data=np.array([blob])),
        "error estimate": lambda f: (
            f["error_estimate"].__delitem__("current"),
            f["error_estimate"].create_dataset("current", data=np.array([blob])),
        ),
        "potential": lambda f: (
            f.__delitem__("potential"),
            f.create_dataset("potential", data=blob),
        ),
        "object strings": lambda f: (
            f.__delitem__("x"),
            f.create_dataset(
                "x",
                data=np.array([str(pickle.dumps(_Evil(canary)))] * 79, dtype=object),
                dtype=h5py.string_dtype(),
            ),
        ),
    }
    spy = Spy(monkeypatch)
    for name, edit in opaque.items():
        path = _hostile_copy(result_file, tmp_path, name, edit)
        with pytest.raises(ResultFileError, match="damaged pnp result"):
            pnp.load_result(path)
    # A pickle in an attribute is read back as inert bytes.
    path = _hostile_copy(
        result_file, tmp_path, "attribute", lambda f: f.attrs.__setitem__("message", blob)
    )
    result = pnp.load_result(path)
    assert isinstance(result.message, str)
    assert [call for call in spy.calls if call[0] != "import_module"] == []


def test_result_reader_uses_h5py_only():
    source = "".join(
        (PACKAGE / "results" / name).read_text() for name in ("reader.py", "writer.py", "result.py")
    )
    for word in ("pickle", "np.load", "allow_pickle", "eval(", "exec("):
        assert word not in source


# ---------------------------------------------------------------------------
# Output paths: relative to the case file, never overwritten without --force
# ---------------------------------------------------------------------------


def _case_text(output_path: str | None) -> str:
    text = (CASES / "nernst_k.toml").read_text()
    head, _, tail = text.partition("[output]")
    tail = tail.split("\n[", 1)[1] if "\n[" in tail else ""
    output = (
        f'\n[output]\npath = "{output_path}"\nplot = false\n'
        if output_path
        else "\n[output]\nplot = false\n"
    )
    return head + output + ("\n[" + tail if tail else "")


def test_output_path_is_relative_to_the_case_file(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "cases"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for given, expected in (
        ("out/r.h5", folder / "out" / "r.h5"),
        ("../results/r.h5", tmp_path / "project" / "results" / "r.h5"),
        ("r.h5", folder / "r.h5"),
        (str(tmp_path / "abs.h5"), tmp_path / "abs.h5"),
        (None, folder / "results" / "case.h5"),
    ):
        path = folder / "case.toml"
        path.write_text(_case_text(given))
        assert load_case(path).output.path == str(expected)
        # A relative path to the case file works from any directory too.
        assert load_case(os.path.relpath(path)).output.path == str(expected)
    # Without a file, a path stays as given (the caller's directory).
    data = tomllib.loads(_case_text("out/r.h5"))
    assert Case.from_dict(data).output.path == "out/r.h5"


def test_run_never_overwrites_without_force(tmp_path, capsys):
    folder = tmp_path / "cases"
    folder.mkdir()
    victim = tmp_path / "victim.h5"
    victim.write_bytes(b"precious data, not a result file\n")
    before = victim.read_bytes()
    relative = folder / "relative.toml"
    relative.write_text(_case_text("../victim.h5"))
    absolute = folder / "absolute.toml"
    absolute.write_text(_case_text(str(victim)))
    for args in (
        ["run", str(relative)],
        ["run", str(absolute)],
        ["run", str(CASES / "nernst_k.toml"), "-o", str(victim)],
        ["run", str(relative), "--restart", str(victim)],
        ["run", str(relative), "--set", "output.path=../victim.h5"],
    ):
        assert main([*args, "--quiet", "--no-plot"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--force" in err
        assert victim.read_bytes() == before
    # The same through a real process, then with --force it is replaced.
    proc = pnp_subprocess("run", relative, "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and "--force" in proc.stderr and victim.read_bytes() == before
    assert main(["run", str(relative), "--quiet", "--no-plot", "--force"]) == 0
    assert pnp.load_result(victim).status == "completed"


# ---------------------------------------------------------------------------
# Absurd inputs are refused (or loaded) quickly
# ---------------------------------------------------------------------------


def _timed(load, *args, **kwargs):
    """(case or CaseError, CPU seconds)."""
    start = time.process_time()
    try:
        outcome = load(*args, **kwargs)
    except CaseError as exc:
        outcome = exc
    return outcome, time.process_time() - start


def _base() -> dict:
    return tomllib.loads((CASES / "ghk.toml").read_text())


def _with(**changes) -> dict:
    data = _base()
    for dotted, value in changes.items():
        _set_path(data, dotted.split("__"), value)
    return data


def _set_path(data, parts, value):
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _many_species(count: int) -> dict:
    data = _base()
    data["species"] = {f"S{i}": {"z": 0, "D": 1e-9} for i in range(count)}
    return data


def _many_regions_and_protocols(regions: int, protocols: int) -> dict:
    data = _base()
    bath = data["region"][-1]
    data["region"] = data["region"][:2] + [dict(bath, name=f"b{i}") for i in range(regions - 2)]
    data["run"] = {"mode": "transient", "t_end": 1.0}
    data["protocol"] = [
        {"at": i * 1e-4, "set": {"boundary.right.potential": i * 1e-6}} for i in range(protocols)
    ]
    return data


def _nested(depth: int) -> dict:
    data = _base()
    inner: object = 1
    for _ in range(depth):
        inner = {"a": inner}
    data["expect"] = {"deep": inner}
    return data


ABSURD_FILES = {
    "2 MB of comment": lambda: "# " + "x" * 2_000_000 + "\n",
    "2 MB title": lambda: 'title = "' + "x" * 2_000_000 + '"\n',
    "inline arrays 50 deep": lambda: "expect = { a = " + "[" * 50 + "]" * 50 + " }\n",
    "tables 50 deep": lambda: "[" + ".".join(["a"] * 50) + "]\nb = 1\n",
    "inline tables 50 deep": lambda: "x = " + "{a=" * 50 + "1" + "}" * 50 + "\n",
    "arrays 400,000 deep": lambda: "x = " + "[" * 400_000 + "]" * 400_000 + "\n",
    "integer of 5,000 digits": lambda: "temperature = 1" + "0" * 5000 + "\n",
    "10,000 species": lambda: "".join(f"[species.S{i}]\nz = 0\nD = 1e-9\n" for i in range(10_000)),
    "10,000 regions": lambda: "".join(
        f'[[region]]\nname = "r{i}"\nlength = 1e-6\n' for i in range(10_000)
    ),
    "key of 900,000 characters": lambda: "k" * 900_000 + " = 1\n",
    "1000 regions x 1000 protocols": lambda: tomli_w.dumps(_many_regions_and_protocols(1000, 1000)),
}

ABSURD_DICTS = {
    "uniform_cells = 1e12": (lambda: _with(mesh__uniform_cells=10**12), "mesh.uniform_cells"),
    "uniform_cells = 1e7 in 20 regions": (
        lambda: dict(_many_regions_and_protocols(20, 0), mesh={"uniform_cells": 10**7}),
        "mesh.uniform_cells",
    ),
    "max_cell = 1 fm": (lambda: _with(mesh__max_cell="1 fm"), "mesh"),
    "growth 1, 1e9 cells per Debye length": (
        lambda: _with(mesh__growth=1.0, mesh__cells_per_debye=1e9),
        "mesh",
    ),
    "a region of 1e300 m": (lambda: _region_length(1e300), "mesh"),
    # walls grade on the Gouy-Chapman length: uniform cells of it beside a
    # 1e6 C/m^2 wall are ~1e11 cells, and a 1e6 V wall's length underflows to 0
    "growth 1 beside a wall of 1e6 C/m^2": (
        lambda: _with(mesh__growth=1.0, boundary__left={"type": "wall", "surface_charge": 1e6}),
        "mesh",
    ),
    "a wall at 1e6 V": (lambda: _with(boundary__left={"type": "wall", "potential": 1e6}), "mesh"),
    # a transient builds the graded mesh of every state its protocols lead to
    "a protocol charging a wall to 1e6 C/m^2, growth 1": (
        lambda: _protocol_to_a_charged_wall(),
        "protocol",
    ),
    "membrane_cells = 1e9": (lambda: _with(mesh__membrane_cells=10**9), "mesh.membrane_cells"),
    "outputs = 1e12": (
        lambda: _with(run__mode="transient", run__t_end=1.0, run__outputs=10**12),
        "run.outputs",
    ),
    "200,000 output times": (
        lambda: _with(
            run__mode="transient", run__t_end=1.0, run__outputs=[i * 1e-6 for i in range(200_000)]
        ),
        "run.outputs",
    ),
    "valence 10**100": (lambda: _valence(10**100), "species.K.z"),
    "10,000 species": (lambda: _many_species(10_000), "species"),
    "nesting depth 50": (lambda: _nested(50), "expect.deep"),
}


def _protocol_to_a_charged_wall():
    data = _with(mesh__growth=1.0, boundary__left={"type": "wall", "surface_charge": 0.0})
    data["run"] = {"mode": "transient", "t_end": 1.0}
    data["protocol"] = [{"at": 0.5, "set": {"boundary.left.surface_charge": 1e6}}]
    return data


def _region_length(length):
    data = _base()
    data["region"][0]["length"] = length
    return data


def _valence(z):
    data = _base()
    data["species"]["K"]["z"] = z
    return data


@pytest.mark.parametrize("name", sorted(ABSURD_FILES))
def test_absurd_case_files_are_handled_quickly(name, tmp_path):
    path = tmp_path / "absurd.toml"
    path.write_text(ABSURD_FILES[name]())
    outcome, seconds = _timed(load_case, path)
    assert seconds < LIMIT, f"{name}: {seconds:.2f} s"
    if name.startswith("1000 regions"):
        assert isinstance(outcome, Case)  # large but legal
        return
    assert isinstance(outcome, CaseError), name
    message = str(outcome)
    assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 2000


def _watch_the_mesh(monkeypatch) -> list[float]:
    """Forbid building a mesh; return the list the loader's cell estimates go to.

    `build_mesh` is replaced in every pnp module that holds it, so a call by
    any name fails. The loader sizes a graded mesh with the closed-form
    `pnp.input.sections.estimated_cells` (looked up at call time by `check_cells`);
    the wrapper records each estimate, so a test can see that it ran.
    """
    import pnp.discretisation.mesh
    import pnp.input.sections

    real_build = pnp.discretisation.mesh.build_mesh

    def no_mesh(*args, **kwargs):  # validation must refuse before any mesh is built
        raise AssertionError("build_mesh called")

    for module in [m for n, m in sys.modules.items() if n == "pnp" or n.startswith("pnp.")]:
        if getattr(module, "build_mesh", None) is real_build:
            monkeypatch.setattr(module, "build_mesh", no_mesh)
    estimates: list[float] = []
    real_estimate = pnp.input.sections.estimated_cells

    def estimate(*args, **kwargs):
        cells = real_estimate(*args, **kwargs)
        estimates.append(cells)
        return cells

    monkeypatch.setattr(pnp.input.sections, "estimated_cells", estimate)
    return estimates


def test_a_legal_case_is_sized_by_the_estimate_not_a_mesh(monkeypatch):
    """Control for the test below: the wrapped estimate is on the loader's path."""
    estimates = _watch_the_mesh(monkeypatch)
    Case.from_dict(_base())
    assert len(estimates) == 1 and 10 < estimates[0] < 1e4


@pytest.mark.parametrize("name", sorted(ABSURD_DICTS))
def test_absurd_values_are_refused_at_validation(name, monkeypatch):
    make, key = ABSURD_DICTS[name]
    data = make()
    estimates = _watch_the_mesh(monkeypatch)
    with warnings.catch_warnings():
        # an absurd plain number may be warned about before it is refused
        warnings.simplefilter("ignore", CaseWarning)
        outcome, seconds = _timed(Case.from_dict, data)
    assert seconds < LIMIT, f"{name}: {seconds:.2f} s"
    assert isinstance(outcome, CaseError), name
    assert outcome.key.startswith(key), str(outcome)
    if key == "mesh":
        # refused by the closed-form estimate, which saw the absurd count
        assert estimates and estimates[-1] > 1e8, estimates
    else:
        # refused by its own check; any estimate made on the way was of a sane mesh
        assert all(cells <= 1e8 for cells in estimates), estimates


def test_huge_mesh_is_refused_with_a_clear_message_before_allocating():
    with pytest.raises(CaseError, match=r"`mesh.uniform_cells`: .*<= 1e8"):
        Case.from_dict(_with(mesh__uniform_cells=10**12))
    with pytest.raises(CaseError, match=r"graded mesh would have about .* cells; at most 1e8"):
        Case.from_dict(_with(mesh__max_cell="1 fm"))
    # The limit leaves real meshes alone: 1e6 uniform cells in 3 regions loads.
    assert Case.from_dict(_with(mesh__uniform_cells=10**6)).mesh.uniform_cells == 10**6


def test_pnp_check_refuses_a_huge_mesh_quickly(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(tomli_w.dumps(_with(mesh__uniform_cells=10**12)))
    start = time.perf_counter()
    proc = pnp_subprocess("check", path, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "uniform_cells" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert time.perf_counter() - start < 30  # interpreter start-up included; no allocation
