"""The wheel is self-contained: the Beijing bundle and the example scenarios travel inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from simulator.config import resources

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_the_bundle_and_the_scenarios(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(PROJECT),
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("footprint_simulator-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "simulator/_data/geo/beijing.gpkg" in names
    assert "simulator/_data/geo/ATTRIBUTION.md" in names
    shipped = {Path(p).name for p in (PROJECT / "scenarios").glob("*.toml")}
    packed = {Path(n).name for n in names if n.startswith("simulator/_data/scenarios/") and n.endswith(".toml")}
    assert packed == shipped
    plans = {p.name for p in (PROJECT / "scenarios" / "plans").iterdir()}
    assert {Path(n).name for n in names if n.startswith("simulator/_data/scenarios/plans/")} == plans
    assert not any(n.startswith(("geo/", "scenarios/", "tests/")) for n in names)
    static = PROJECT / "simulator" / "reports" / "static"
    shipped_static = {
        p.relative_to(PROJECT).as_posix()
        for p in static.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert shipped_static >= {"simulator/reports/static/leaflet/leaflet.js", "simulator/reports/static/webmap.js"}
    assert shipped_static <= names, sorted(shipped_static - names)


def test_resources_prefer_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "simulator"
    (package / "_data" / "geo").mkdir(parents=True)
    (package / "_data" / "scenarios").mkdir(parents=True)
    monkeypatch.setattr(resources.resources, "files", lambda name: package)
    assert resources.bundle_dir() == package / "_data" / "geo"
    assert resources.default_scenario_path() == package / "_data" / "scenarios" / "beijing_launch.toml"


def test_resources_fall_back_to_the_project_folders() -> None:
    assert resources.bundle_dir() == PROJECT / "geo"
    assert (resources.bundle_dir() / "beijing.gpkg").is_file()
    assert resources.default_scenario_path() == PROJECT / "scenarios" / "beijing_launch.toml"
    assert resources.default_scenario_path().is_file()
