"""Case-file fuzzing (issue 7, item 1).

Every shipped case (``cases/*.toml``) is mutated at random with hypothesis:
keys deleted, renamed (typos) or added, values replaced by wrong types, wrong
units, negative / zero / NaN / inf / huge numbers, random text, unknown species
and regions, duplicated names and entries, emptied tables; overrides with
random paths and values; and the raw TOML text with flipped, inserted and
deleted bytes, truncation and shuffled lines. For every input the loader

* returns a `pnp.Case`, or raises `pnp.errors.CaseError` (never another
  exception type): its message is one line, names the file (``load_case``) and
  the key path (or, for a whole-file fault such as invalid TOML, says so);
* takes less than `TIME_LIMIT` of CPU time (no hang);
* warns with nothing but `pnp.input.case.CaseWarning` (``strict = false``).

An accepted case must also survive its own round trip: ``to_toml()`` loaded
back gives an equal case.

Counts (`EXAMPLES`): the default run tries 12,214 inputs in ~40 s on 2
cores; the ``slow`` tests (``--runslow``) ten times as many again (122,000
more, ~7 min). The module prints the number of inputs tried, accepted and
refused when it finishes.
"""

from __future__ import annotations

import copy
import decimal
import fractions
import gc
import math
import time
import tomllib
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from helpers import pnp_subprocess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnp.errors import CaseError
from pnp.input import Case, CaseWarning, load_case, parse_override
from pnp.input.units import registry

# When a hypothesis test fails, its pytest plugin imports libcst to write a
# patch file, and that import warns (DeprecationWarning from mypy_extensions):
# with filterwarnings = error the failing example is then lost in an
# INTERNALERROR. Import it once here with warnings off.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import hypothesis.extra._patching  # noqa: F401
    except Exception:  # not installed, or another hypothesis version
        pass

ROOT = Path(__file__).resolve().parent.parent
CASE_FILES = sorted((ROOT / "cases").glob("*.toml"))
TEXTS = {path.name: path.read_bytes() for path in CASE_FILES}
DATA = {path.name: tomllib.loads(path.read_text()) for path in CASE_FILES}
NAMES = sorted(DATA)

#: Longest any single input may take to load or be refused [CPU s, garbage collection
#: excluded]. Wall time (and hypothesis's wall-time deadline) flaked on a shared machine:
#: an input that costs 1 ms took 1.46 s once in the 122,000 of the slow run.
TIME_LIMIT = 1.0
#: Examples per fuzz test: default run, and the slow run (``--runslow``).
EXAMPLES = {"dict": 3000, "python": 1200, "file": 2400, "text": 2400, "overrides": 1600}
SLOW_FACTOR = 10

#: Inputs tried: (test, outcome) -> count; printed when the module finishes.
COUNTS: Counter[tuple[str, str]] = Counter()

# Messages of faults of the whole input (file, overrides, `--set` text): no key to name.
FILE_LEVEL = (
    "invalid TOML",
    "not UTF-8",
    "a case is a table",
    "case files are limited to",
    "cannot read the case file",
    "file is ",
    "expected KEY=VALUE",
    "overrides must be a dict",
    "override keys are dotted strings",
)


def _settings(kind: str, slow: bool = False):
    return settings(
        max_examples=EXAMPLES[kind] * (SLOW_FACTOR if slow else 1),
        deadline=None,  # `attempt` holds every load to TIME_LIMIT of CPU time
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    # Warm up (pint registry, scipy) so the first example is not charged for imports.
    # The shipped cases' units take a fast path that never builds pint's
    # registry: build it here, or the first input with another unit pays for
    # it (1.3-2.9 s measured on a loaded machine) and fails TIME_LIMIT.
    Case.from_dict(DATA["nernst_k.toml"])
    registry()
    yield
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    by_test = Counter()
    for (test, _), count in COUNTS.items():
        by_test[test] += count
    accepted = sum(c for (_, outcome), c in COUNTS.items() if outcome == "accepted")
    lines = [f"test_fuzz: {total} inputs tried ({accepted} accepted, {total - accepted} refused)"]
    lines += [f"  {test}: {count}" for test, count in sorted(by_test.items())]
    # Past pytest's output capture, so the counts show in a passing run too.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:  # pragma: no cover
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


# ---------------------------------------------------------------------------
# The check every input goes through
# ---------------------------------------------------------------------------


def check_message(exc: CaseError, file: str | None) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message, f"message is not one line: {message!r}"
    if file is not None:
        assert message.startswith(f"{file}: "), f"message does not name the file: {message!r}"
    else:
        assert exc.file is None
    if exc.key:
        assert f"`{exc.key}`" in message, message
    else:
        assert any(fragment in message for fragment in FILE_LEVEL), (
            f"message names no key: {message!r}"
        )


def attempt(test: str, load, *args, file: str | None = None, **kwargs) -> Case | None:
    """Run one load; return the case or None (refused); fail on anything else."""
    gc.disable()  # a collection of hypothesis's garbage is not this input's cost
    try:
        start = time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                case = load(*args, **kwargs)
            except CaseError as exc:
                case = None
                check_message(exc, file)
        elapsed = time.process_time() - start
    finally:
        gc.enable()
    assert elapsed < TIME_LIMIT, f"took {elapsed:.2f} s"
    for warning in caught:
        assert issubclass(warning.category, CaseWarning), warning
    if case is not None:
        assert isinstance(case, Case)
        check_accepted(case)
    COUNTS[test, "refused" if case is None else "accepted"] += 1
    return case


def check_accepted(case: Case) -> None:
    assert math.isfinite(case.temperature) and case.temperature > 0
    for region in case.regions:
        assert math.isfinite(region.length) and region.length > 0
        assert math.isfinite(region.eps_r) and region.eps_r >= 1
        assert all(math.isfinite(c) and c >= 0 for c in region.concentration.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaseWarning)
        again = Case.from_dict(tomllib.loads(case.to_toml()))
    assert again == case


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

UNITS = (
    "nm",
    "um",
    "m",
    "mm",
    "km",
    "mV",
    "V",
    "kV",
    "mM",
    "M",
    "mol/m^3",
    "mol/L",
    "m^2/s",
    "cm^2/s",
    "m/s",
    "cm/s",
    "uF/cm^2",
    "F/m^2",
    "kJ/mol",
    "J/mol",
    "kcal/mol",
    "degC",
    "degF",
    "K",
    "s",
    "ms",
    "min",
    "h",
    "kg",
    "Hz",
    "A/m^2",
    "C/m^2",
    "mol/m^2/s",
    "percent",
    "dimensionless",
    "parsec",
    "furlong",
    "m^2^3",
    "(m",
    "m)**2",
    "1/0",
    "nm nm",
    "m**99",
    "m^-2",
    "mol / (m**2 * s)",
    "µm",
    "Ω",
    "ohm",
    "__import__",
    "m; rm -rf",
    "x" * 70,
)

SPECIAL_NUMBERS = (
    0,
    0.0,
    -0.0,
    -1,
    1,
    -1e-300,
    5e-324,
    1e-30,
    1e300,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    10**400,
    1e12,
    1e20,
    -273.15,
    273.15,
    0.5,
    1.0000001,
)

NUMBER_TEXT = st.one_of(
    st.sampled_from(
        (
            "0",
            "-0",
            "1",
            "-1",
            "5",
            "1e-300",
            "1e300",
            "1e400",
            "-1e400",
            "nan",
            "inf",
            "-inf",
            "1e-400",
            "0.5",
            "1e12",
            ".5",
            "5.",
            "+3",
            "--3",
            "1e",
            "e5",
            "1_000",
            "0x10",
            "",
        )
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
UNIT_STRINGS = st.builds(
    lambda n, u, sep: f"{n}{sep}{u}",
    NUMBER_TEXT,
    st.sampled_from(UNITS),
    st.sampled_from((" ", "", "  ", "\t")),
)
SPECIAL_STRINGS = st.sampled_from(
    (
        "",
        " ",
        "floating",
        "Floating",
        "wall",
        "reservoir",
        "steady",
        "transient",
        "cartesian",
        "spherical",
        "ideal",
        "davies",
        "left",
        "right",
        "nernst:K",
        "ghk",
        "K",
        "Na",
        "Cl",
        "X",
        "bath",
        "membrane",
        "cytoplasm",
        "\n",
        "a\nb",
        "\x00",
        "é",
        "𝜑",
        "${HOME}",
        "`id`",
        "__import__('os')",
        "!!python/object",
    )
)

SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from(SPECIAL_NUMBERS),
    st.text(max_size=30),
    UNIT_STRINGS,
    SPECIAL_STRINGS,
    st.datetimes(),
    st.dates(),
    st.times(),
)
# Everything TOML can express (and tomli_w can write).
TOML_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
# What a Python caller might pass to Case.from_dict besides TOML values.
PYTHON_VALUES = st.one_of(
    st.none(),
    st.binary(max_size=8),
    st.complex_numbers(),
    st.decimals(),
    st.fractions(),
    st.tuples(SCALARS, SCALARS),
    st.frozensets(st.integers(), max_size=3),
    st.builds(object),
    st.sampled_from(
        (
            np.float64("nan"),
            np.float64(1e300),
            np.int64(3),
            np.int8(-7),
            np.bool_(True),
            np.float32(1e30),
            np.array([1.0, 2.0]),
            np.array(5e-9),
            np.array(["a"]),
            np.array([1, "x"], dtype=object),
            decimal.Decimal("NaN"),
            decimal.Decimal("1e999999"),
            fractions.Fraction(10**400, 3),
            range(3),
        )
    ),
)
NAME_LIKE = st.one_of(
    st.sampled_from(
        (
            "K",
            "Na",
            "Cl",
            "X",
            "Ca",
            "k",
            "KK",
            "bath",
            "membrane",
            "cytoplasm",
            "inside",
            "outside",
            "membrane2",
            "left",
            "right",
            "",
            " ",
            "1abc",
            "a.b",
            "a" * 65,
            "électrolyte",
        )
    ),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,10}", fullmatch=True),
    st.text(max_size=12),
)


# ---------------------------------------------------------------------------
# Mutations of a parsed case
# ---------------------------------------------------------------------------


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _get(root, path):
    for part in path:
        root = root[part]
    return root


def _put(root, path, value):
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


def _typo(draw, name: str) -> str:
    kind = draw(st.sampled_from(("drop", "double", "case", "suffix", "swap", "space")))
    if not name:
        return "x"
    i = draw(st.integers(0, len(name) - 1))
    if kind == "drop":
        out = name[:i] + name[i + 1 :]
    elif kind == "double":
        out = name[:i] + name[i] + name[i:]
    elif kind == "case":
        out = name.swapcase()
    elif kind == "suffix":
        out = name + draw(st.sampled_from(("s", "_", "2", " ", ".x")))
    elif kind == "swap" and len(name) > 1:
        j = min(i + 1, len(name) - 1)
        chars = list(name)
        chars[i], chars[j] = chars[j], chars[i]
        out = "".join(chars)
    else:
        out = name[:i] + " " + name[i:]
    return out if out != name else name + "_"


def _mutate(draw, data, path, kind, values):
    node = _get(data, path)
    parent = _get(data, path[:-1]) if path else None
    if kind == "delete":
        if not path:
            return {}
        del parent[path[-1]]
        return data
    if kind == "replace":
        return _put(data, path, draw(values))
    if kind == "unit":
        return _put(data, path, draw(UNIT_STRINGS))
    if kind == "number":
        if draw(st.booleans()):
            value = draw(st.sampled_from(SPECIAL_NUMBERS))
        elif isinstance(node, int | float) and not isinstance(node, bool):
            # (an int times a float factor overflows when the int is huge)
            factors = (
                (-1, 0, 10**30, -(10**300))
                if isinstance(node, int)
                else (-1, 0, 1e-30, 1e30, 1e300, -1e300)
            )
            value = node * draw(st.sampled_from(factors))
        else:
            value = f"{draw(st.sampled_from(SPECIAL_NUMBERS))} {draw(st.sampled_from(UNITS))}"
        return _put(data, path, value)
    if kind == "empty":
        empty = {dict: {}, list: [], str: ""}.get(type(node), 0)
        return _put(data, path, empty)
    if kind == "retype":
        if isinstance(node, dict):
            value = list(node.values())
        elif isinstance(node, list):
            value = {str(i): v for i, v in enumerate(node)}
        elif isinstance(node, str):
            value = draw(st.sampled_from(([node], {"value": node}, 1, True, 0.5)))
        else:
            value = draw(st.sampled_from(([node], {"value": node}, str(node), f"{node}")))
        return _put(data, path, value)
    if kind == "name":
        # An unknown / misplaced name: a new key in a table (a species, a
        # region table entry), or another name where a name is expected.
        if isinstance(node, dict):
            key = draw(NAME_LIKE)
            node[key] = (
                copy.deepcopy(next(iter(node.values())))
                if node and draw(st.booleans())
                else draw(values)
            )
            return data
        return _put(data, path, draw(NAME_LIKE))
    if kind == "duplicate":
        if isinstance(parent, list):
            parent.append(copy.deepcopy(node))
            return data
        if path and path[-1] == "name" and isinstance(data, dict):
            regions = data.get("region")
            names = (
                # a region whose name an earlier mutation deleted has none to copy (None
                # is not a TOML value: the file could not even be written)
                [r["name"] for r in regions if isinstance(r, dict) and "name" in r]
                if isinstance(regions, list)
                else []
            )
            if names:
                return _put(data, path, draw(st.sampled_from(names)))
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(list(node)))
            node[_typo(draw, key) if draw(st.booleans()) else key.lower()] = copy.deepcopy(
                node[key]
            )
            return data
        return _put(data, path, [copy.deepcopy(node), copy.deepcopy(node)])
    if kind == "typo":
        if path and isinstance(parent, dict):
            value = parent.pop(path[-1])
            parent[_typo(draw, path[-1])] = value
            return data
        if isinstance(node, str):
            return _put(data, path, _typo(draw, node))
        return data
    if kind == "text":
        return _put(data, path, draw(st.text(max_size=40)))
    if kind == "add_key":
        table = node if isinstance(node, dict) else parent if isinstance(parent, dict) else None
        if table is None:
            return data
        table[draw(st.one_of(NAME_LIKE, st.text(max_size=20)))] = draw(values)
        return data
    raise AssertionError(kind)


KINDS = (
    "delete",
    "replace",
    "unit",
    "number",
    "empty",
    "retype",
    "name",
    "duplicate",
    "typo",
    "text",
    "add_key",
)


@st.composite
def mutated_cases(draw, values=TOML_VALUES, max_mutations=4):
    """(case file name, mutated parsed case, list of (mutation, path))."""
    name = draw(st.sampled_from(NAMES))
    data = copy.deepcopy(DATA[name])
    steps = []
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = list(_paths(data))
        # Leaves and near-leaves are where typos and wrong values live; the
        # root is mutated rarely.
        path = draw(st.sampled_from(paths[1:] or paths)) if draw(st.integers(0, 30)) else ()
        kind = draw(st.sampled_from(KINDS))
        data = _mutate(draw, data, path, kind, values)
        steps.append((kind, path))
    return name, data, steps


# ---------------------------------------------------------------------------
# Mutations of the TOML text
# ---------------------------------------------------------------------------

SYNTAX = (
    b"[",
    b"]",
    b"[[",
    b"]]",
    b"=",
    b'"',
    b"'",
    b"'''",
    b'"""',
    b"{",
    b"}",
    b",",
    b".",
    b"#",
    b"\n",
    b"\r",
    b"\t",
    b" ",
    b"\\",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"-",
    b"+",
    b"e",
    b"nan",
    b"inf",
    b"true",
    b"1979-05-27T07:32:00Z",
    b"\xef\xbb\xbf",
    b"[species.K]\n",
    b"[[region]]\n",
    b'name = "bath"\n',
    b"z = 1\n",
    b"9" * 4400,
    b"[" * 3000,
    b"{a=" * 300,
)


@st.composite
def mutated_texts(draw):
    name = draw(st.sampled_from(NAMES))
    text = bytearray(TEXTS[name])
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                ("flip", "truncate", "insert", "delete", "dup_line", "swap_lines", "drop_line")
            )
        )
        size = len(text)
        pos = draw(st.integers(0, max(size - 1, 0)))
        if kind == "flip" and size:
            text[pos] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del text[pos:]
        elif kind == "insert":
            text[pos:pos] = draw(
                st.one_of(st.sampled_from(SYNTAX), st.binary(min_size=1, max_size=8))
            )
        elif kind == "delete":
            del text[pos : pos + draw(st.integers(1, 40))]
        else:
            lines = bytes(text).splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                j = draw(st.integers(0, len(lines) - 1))
                if kind == "dup_line":
                    lines.insert(j, lines[i])
                elif kind == "swap_lines":
                    lines[i], lines[j] = lines[j], lines[i]
                else:
                    del lines[i]
                text = bytearray(b"".join(lines))
        steps.append(kind)
    return name, bytes(text), steps


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _write(directory: Path, content: bytes) -> Path:
    path = directory / "case.toml"
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


def _dict_property(mutation):
    _, data, _ = mutation
    attempt("from_dict", Case.from_dict, data)


def _python_property(mutation, strict):
    _, data, _ = mutation
    attempt("from_dict (python values)", Case.from_dict, data, strict=strict)


def _file_property(scratch, mutation):
    _, data, _ = mutation
    if not isinstance(data, dict):
        data = {"case": data}
    path = _write(scratch, tomli_w.dumps(data).encode())
    attempt("load_case (mutated tables)", load_case, path, file=str(path))


def _text_property(scratch, mutation):
    _, text, _ = mutation
    path = _write(scratch, text)
    attempt("load_case (mutated text)", load_case, path, file=str(path))


def _override_paths(data) -> list[str]:
    """Dotted override paths of a parsed case (as `--set` takes them)."""
    out = []
    for key, value in data.items():
        if key == "region" and isinstance(value, list):
            for region in value:
                for field, item in region.items():
                    if isinstance(item, dict):
                        out += [f"region.{region['name']}.{field}.{s}" for s in item]
                        out.append(f"region.{region['name']}.{field}")
                    else:
                        out.append(f"region.{region['name']}.{field}")
        elif key in ("species", "boundary"):
            out += [f"{key}.{name}.{field}" for name, table in value.items() for field in table]
        elif key == "protocol":
            out.append("protocol.0.at")
        elif isinstance(value, dict):
            out += [f"{key}.{field}" for field in value]
        else:
            out.append(key)
    return out


@st.composite
def overrides(draw):
    name = draw(st.sampled_from(NAMES))
    paths = _override_paths(DATA[name])
    keys = st.one_of(
        st.sampled_from(paths),
        st.sampled_from(paths).map(lambda p: p.replace(".", "..", 1)),
        st.sampled_from(paths).flatmap(lambda p: st.just(p + "." + "x")),
        st.sampled_from(paths).flatmap(
            lambda p: st.builds(lambda t: _typo_text(p, t), st.integers(0, len(p) - 1))
        ),
        st.sampled_from(
            (
                "pump.rate",
                "pump.0.rate",
                "pump.7.rate",
                "region.nowhere.length",
                "region[0].length",
                "species.K.z",
                "mesh.uniform_cells",
                "boundary.middle.potential",
                "protocol",
                "run",
                "",
                ".",
                "a.",
                "[0]",
            )
        ),
        st.text(max_size=20),
    )
    values = st.one_of(TOML_VALUES, PYTHON_VALUES)
    return name, draw(st.dictionaries(keys, values, min_size=1, max_size=3))


def _typo_text(path: str, index: int) -> str:
    return path[:index] + path[index + 1 :]


def _override_property(mutation):
    name, changes = mutation
    attempt("overrides", Case.from_dict, DATA[name], overrides=changes)


def _cli_override_property(name, texts):
    pairs = {}
    for text in texts:
        try:
            key, value = parse_override(text)
        except CaseError as exc:
            check_message(exc, None)
            COUNTS["--set parsing", "refused"] += 1
            return
        pairs[key] = value
    attempt("--set overrides", Case.from_dict, DATA[name], overrides=pairs)


def _fuzz_tests(slow: bool):
    """The fuzz tests with the default or the slow number of examples."""
    mark = pytest.mark.slow if slow else (lambda f: f)
    return (
        mark(_settings("dict", slow)(given(mutated_cases())(_dict_property))),
        mark(
            _settings("python", slow)(
                given(
                    mutated_cases(values=st.one_of(PYTHON_VALUES, TOML_VALUES)),
                    st.sampled_from((None, None, True, False, 0, "no")),
                )(_python_property)
            )
        ),
        mark(_settings("file", slow)(given(mutation=mutated_cases())(_file_property))),
        mark(_settings("text", slow)(given(mutation=mutated_texts())(_text_property))),
        mark(_settings("overrides", slow)(given(overrides())(_override_property))),
        mark(
            _settings("overrides", slow)(
                given(
                    st.sampled_from(NAMES),
                    st.lists(
                        st.one_of(
                            st.builds(
                                lambda k, v: f"{k}={v}",
                                st.sampled_from(
                                    (
                                        "temperature",
                                        "region.bath.length",
                                        "mesh.growth",
                                        "boundary.right.potential",
                                        "run.outputs",
                                        "species.K.D",
                                        "region.bath.concentration.K",
                                        "expect.x",
                                        "output.path",
                                    )
                                ),
                                st.one_of(
                                    UNIT_STRINGS,
                                    SPECIAL_STRINGS,
                                    NUMBER_TEXT,
                                    st.text(max_size=20),
                                    st.sampled_from(("1" * 4400, "[" * 3000, "{a=" * 300)),
                                ),
                            ),
                            st.text(max_size=30),
                        ),
                        min_size=1,
                        max_size=3,
                    ),
                )(_cli_override_property)
            )
        ),
    )


(
    test_mutated_dicts,
    test_mutated_dicts_with_python_values,
    test_mutated_files,
    test_mutated_toml_text,
    test_random_overrides,
    test_random_cli_overrides,
) = _fuzz_tests(slow=False)

(
    test_mutated_dicts_slow,
    test_mutated_dicts_with_python_values_slow,
    test_mutated_files_slow,
    test_mutated_toml_text_slow,
    test_random_overrides_slow,
    test_random_cli_overrides_slow,
) = _fuzz_tests(slow=True)


def test_every_shipped_case_loads_unchanged():
    assert len(CASE_FILES) >= 10
    for path in CASE_FILES:
        assert isinstance(attempt("shipped", load_case, path, file=str(path)), Case)


# ---------------------------------------------------------------------------
# `pnp check` on mutated files: exit 2, one line, no traceback
# ---------------------------------------------------------------------------

CLI_MUTATIONS = [
    ("nernst_k.toml", b"eps_r = 80", b"eps_r = 80\neps_r = 81"),  # duplicate key: invalid TOML
    ("ghk.toml", b"[[region]]", b"[[region]"),  # broken header
    ("donnan.toml", b'length = "5 um"', b'length = "5 mV"'),  # wrong unit
    ("pump_leak.toml", b"z = 1", b'z = "one"'),  # wrong type
    ("calcium.toml", b"eps_r = 80", b"eps_r = nan"),  # NaN
    ("selectivity.toml", b'name = "membrane"', b'name = "inside"'),  # duplicate region name
    ("ischemia.toml", b"[pump]", b'[pump]\nmembrane2 = "x"'),  # unknown key
    ("membrane_charging.toml", b"", b"\xff\xfe"),  # not UTF-8
    ("debye_layer.toml", None, None),  # truncated
]


@pytest.mark.parametrize(("name", "old", "new"), CLI_MUTATIONS, ids=[m[0] for m in CLI_MUTATIONS])
def test_pnp_check_on_mutated_file_is_one_line_exit_2(tmp_path, name, old, new):
    text = TEXTS[name]
    if old is None:
        text = text[: len(text) * 2 // 3]
        text = text[: text.rindex(b"=") + 1]  # ends in "key =": invalid TOML
    else:
        assert old in text
        text = new + text if old == b"" else text.replace(old, new, 1)
    path = _write(tmp_path, text)
    with pytest.raises(CaseError) as info:
        load_case(path)
    proc = pnp_subprocess("check", path, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(path) in lines[0]
    assert str(info.value) in lines[0]
    assert proc.stdout == ""
