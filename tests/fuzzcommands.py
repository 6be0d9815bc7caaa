"""Hypothesis strategies of ``footprint`` command lines for the fuzz harness (tests/test_fuzz.py).

Options with bad values, ``--set`` with bad keys and values, extreme ``--consumers``,
``--days`` and ``--jobs``, ``--out`` at a file, under a file, in /proc or /sys, or at a folder
that is not empty. File arguments are placeholders (``@scenario``, ...) the harness fills in.
"""

from __future__ import annotations

from hypothesis import strategies as st

# --------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------

#: Where ``--out`` may point; the harness creates each of these places (see tests/test_fuzz.py).
OUT_PLACES = [
    "new",
    "nested/deep/new",
    "a_file",
    "a_file/below",
    "full_folder",
    "empty_folder",
    "/proc/fuzz-out",
    "/sys/fuzz-out",
]
#: The ``--out`` places no command may write to (it must say so before it simulates anything).
BAD_OUT_PLACES = {"a_file", "a_file/below", "full_folder", "/proc/fuzz-out", "/sys/fuzz-out"}

INTEGER_TEXTS = ["0", "-1", "1", "2", "3", "100", "3000000000", "1000000000000", "99999999999999999999", "1e3", "x", ""]
CONSUMER_TEXTS = [
    "200",
    "all",
    "ALL",
    "99",
    "100",
    "0",
    "-5",
    "1e12",
    "1000000000000",
    "200.5",
    "nan",
    "inf",
    "",
    "0x10",
]
SET_KEYS = [
    "behaviour.hill_k",
    "behaviour.hil_k",
    "population.consumers",
    "horizon.days",
    "plan.stores[0].capacity_per_day",
    "plan.stores[9].id",
    "plan.stores[3]",
    "plan.stores_file",
    "plan.stores[0].crs",
    "plan.stores[0].open_day",
    "run.workers",
    "seed",
    "levers.founder_endorsement.offset",
    "",
    ".",
    "plan..stores",
    "[0]",
    "city.bundle",
    "name",
]
SET_VALUES = [
    "4",
    "0",
    "-1",
    "3000000000",
    "1e12",
    "nan",
    "inf",
    "true",
    '"x"',
    "[1, 2]",
    "{a = 1}",
    "",
    "'",
    "2024-02-30",
]


@st.composite
def set_options(draw: st.DrawFn) -> list[str]:
    """0-3 ``--set`` options, some without ``=``, with unknown keys or bad values."""
    options = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(SET_KEYS) | st.text(max_size=8))
        value = draw(st.sampled_from(SET_VALUES) | st.text(max_size=8))
        options += ["--set", draw(st.sampled_from([f"{key}={value}", key, f"{key}=={value}"]))]
    return options


def _option(name: str, values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.sampled_from(values).map(lambda value: [name, value]) | st.just([])


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A command line of ``footprint``; file arguments and ``--out`` are placeholders the harness fills in.

    ``@scenario``, ``@comparison``, ``@sweep`` and ``@city`` stand for valid files of the
    example's folder, ``@missing`` for a file that does not exist, ``@folder`` for a folder;
    ``--out`` values are names of :data:`OUT_PLACES`.
    """
    command = draw(
        st.sampled_from(["run", "run", "validate", "compare", "compare", "sweep", "sweep", "schema", "city", "other"])
    )
    files = st.sampled_from(["@scenario", "@scenario", "@missing", "@folder", "@comparison", "@sweep"])
    out = _option("--out", OUT_PLACES)
    common = [
        set_options(),
        _option("--consumers", CONSUMER_TEXTS),
        _option("--days", INTEGER_TEXTS),
        _option("--seed", INTEGER_TEXTS),
    ]
    if command == "run":
        parts = [[draw(files)], *[draw(s) for s in common], draw(_option("--replications", INTEGER_TEXTS))]
        parts += [draw(_option("--jobs", INTEGER_TEXTS)), draw(out), draw(st.sampled_from([[], ["--overwrite"]]))]
    elif command == "validate":
        parts = [[draw(files)], draw(set_options()), draw(st.sampled_from([[], ["--no-city"], ["--city"]]))]
    elif command == "compare":
        arguments = draw(
            st.sampled_from([["@comparison"], ["@scenario"], ["@scenario", "@scenario2"], [], ["@missing"], ["@sweep"]])
        )
        parts = [arguments, *[draw(s) for s in common], draw(_option("--replications", INTEGER_TEXTS))]
        parts += [
            draw(_option("--jobs", INTEGER_TEXTS)),
            draw(out),
            draw(st.sampled_from([[], ["--overwrite"], ["--marginal"]])),
        ]
    elif command == "sweep":
        executor = st.sampled_from(
            [
                [],
                ["--jobs", "1"],
                ["--jobs", "0"],
                ["--jobs", "-3"],
                ["--jobs", "100000"],
                ["--cluster", "local:0"],
                ["--cluster", "local:x"],
                ["--cluster", "remote:2"],
                ["--scheduler", "nowhere"],
                ["--jobs", "2", "--cluster", "local:2"],
            ]
        )
        parts = [
            [draw(st.sampled_from(["@sweep", "@sweep", "@scenario", "@missing", "@folder", "@comparison"]))],
            *[draw(s) for s in common],
            draw(executor),
            draw(out),
        ]
    elif command == "schema":
        parts = [
            draw(st.sampled_from([[], ["--markdown"]])),
            draw(_option("--out", ["new.json", "a_file", "a_file/below", "/proc/fuzz.json", "nested/deep/s.json"])),
        ]
    elif command == "city":
        parts = [
            ["show"],
            [
                draw(
                    st.sampled_from(
                        ["@missing", "@folder", "@scenario", "@garbage_gpkg", "@empty_gpkg", "atlantis", "../x"]
                    )
                )
            ],
        ]
    else:
        parts = [
            draw(
                st.sampled_from(
                    [
                        [],
                        ["--help"],
                        ["nonsense"],
                        ["run", "--days"],
                        ["run", "--nope"],
                        ["city"],
                        ["city", "build"],
                        ["--version"],
                    ]
                )
            )
        ]
        return [argument for part in parts for argument in part]
    parts.append(
        draw(st.sampled_from([["--quiet"], ["--quiet"], []])) if command in {"run", "compare", "sweep"} else []
    )
    return [command, *[argument for part in parts for argument in part]]
