"""Build hook: ship the city bundles and example scenarios inside the wheel.

The project keeps them at the top level (``geo/``, ``scenarios/``); a wheel gets a copy
under ``simulator/_data/`` so that ``footprint run`` works from any folder after a
non-editable ``pip install .``. ``simulator.config.resources`` finds either layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROJECT = Path(__file__).resolve().parent
SHIPPED = {
    "geo": ["*.gpkg", "ATTRIBUTION.md", "README.md"],
    "scenarios": ["*.toml", "*.csv", "plans/*"],
}


class BuildWithData(build_py):
    """``build_py`` that also copies the shipped data into ``simulator/_data``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for folder, patterns in SHIPPED.items():
            source = PROJECT / folder
            target = Path(self.build_lib) / "simulator" / "_data" / folder
            for pattern in patterns:
                for path in source.glob(pattern):
                    if path.is_file():
                        destination = target / path.relative_to(source)
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, destination)


setup(cmdclass={"build_py": BuildWithData})
