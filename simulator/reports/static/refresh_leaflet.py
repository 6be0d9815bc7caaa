"""Refresh the vendored Leaflet build in ``simulator/reports/static/leaflet/`` from npm.

Run by hand, never at report time (reports inline the vendored copy)::

    python simulator/reports/static/refresh_leaflet.py            # the pinned version
    python simulator/reports/static/refresh_leaflet.py 1.9.4      # another version

It runs ``npm pack leaflet@VERSION`` in a temporary folder, unpacks the tarball and writes
``leaflet.js`` (its ``sourceMappingURL`` comment removed: the map file is not shipped, and
a browser must not look for it), ``leaflet.css`` (its ``url(images/...)`` references,
the layer-control and default-marker icons that the report's map does not use, replaced by
``none``, so the page makes no request for them),
``LICENSE`` (Leaflet's BSD-2-Clause licence) and ``VERSION`` (version and the tarball's
SHA-512 integrity string from the registry). Needs ``npm`` on the PATH.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PINNED_VERSION = "1.9.4"
TARGET = Path(__file__).resolve().parent / "leaflet"


def _pack(version: str, workdir: Path) -> tuple[Path, str]:
    """``npm pack`` the release into ``workdir``; return the tarball and its integrity string."""
    output = subprocess.run(
        ["npm", "pack", f"leaflet@{version}", "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (info,) = json.loads(output)
    return workdir / info["filename"], str(info["integrity"])


def _drop_images(css: str) -> str:
    """``url(images/NAME.png)`` -> ``none`` (icons of controls the report's map does not use)."""
    return re.sub(r"url\(images/[\w.-]+\.png\)", "none", css)


def refresh(version: str = PINNED_VERSION) -> Path:
    """Download ``leaflet@version`` with npm and write the vendored files; return their folder."""
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        tarball, integrity = _pack(version, workdir)
        with tarfile.open(tarball) as archive:
            archive.extractall(workdir, filter="data")
        package = workdir / "package"
        TARGET.mkdir(parents=True, exist_ok=True)
        script = (package / "dist" / "leaflet.js").read_text(encoding="utf-8")
        script = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", script)
        (TARGET / "leaflet.js").write_text(script, encoding="utf-8")
        css = (package / "dist" / "leaflet.css").read_text(encoding="utf-8")
        (TARGET / "leaflet.css").write_text(_drop_images(css), encoding="utf-8")
        (TARGET / "LICENSE").write_text((package / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8")
        (TARGET / "VERSION").write_text(f"leaflet {version} (npm)\nintegrity {integrity}\n", encoding="utf-8")
    return TARGET


if __name__ == "__main__":
    print(refresh(sys.argv[1] if len(sys.argv) > 1 else PINNED_VERSION))
