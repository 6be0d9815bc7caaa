"""Files shipped with the package: the city bundles and the example scenarios.

In a clone (or an editable install) they are the project's own ``geo/`` and
``scenarios/`` folders; in an installed wheel the build copies them into the package as
``simulator/_data/geo`` and ``simulator/_data/scenarios`` (see ``setup.py``). Both
layouts are found here, so nothing else in the package depends on where it is installed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_SCENARIO_NAME", "bundle_dir", "default_scenario_path", "scenarios_dir"]

#: File name of the scenario that ``footprint run`` runs when given none.
DEFAULT_SCENARIO_NAME = "beijing_launch.toml"

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _shipped(folder: str) -> Path:
    """``simulator/_data/<folder>`` when installed from a wheel, else ``<project>/<folder>``."""
    packaged = Path(str(resources.files("simulator"))) / "_data" / folder
    if packaged.is_dir():
        return packaged
    return _PROJECT_ROOT / folder


def bundle_dir() -> Path:
    """Folder of the city bundles shipped with the package (``*.gpkg``)."""
    return _shipped("geo")


def scenarios_dir() -> Path:
    """Folder of the example scenarios shipped with the package."""
    return _shipped("scenarios")


def default_scenario_path() -> Path:
    """The Beijing launch scenario that ``footprint run`` runs by default."""
    return scenarios_dir() / DEFAULT_SCENARIO_NAME
