"""numba's kernel cache lives in one folder per version of the model's source."""

from __future__ import annotations

import numba

from simulator.model import dynamics
from simulator.model.kernel_cache import kernel_cache_folder, source_fingerprint


def test_the_fingerprint_changes_with_any_module_of_the_folder(tmp_path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("y = 2\n", encoding="utf-8")
    before = source_fingerprint(tmp_path)
    assert source_fingerprint(tmp_path) == before
    (tmp_path / "b.py").write_text("y = 3\n", encoding="utf-8")
    assert source_fingerprint(tmp_path) != before


def test_the_folder_is_keyed_by_the_fingerprint_and_falls_back_when_unwritable(tmp_path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    folder = kernel_cache_folder("abc123", {"NUMBA_CACHE_DIR": str(blocked), "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert folder == tmp_path / "xdg" / "footprint-simulator" / "numba" / "abc123"
    assert folder.is_dir()
    assert kernel_cache_folder("abc123", {"NUMBA_CACHE_DIR": str(folder)}) == folder  # set by a parent process
    assert kernel_cache_folder("abc123", {"NUMBA_CACHE_DIR": str(tmp_path / "n")}) == tmp_path / "n" / "abc123"


def test_the_kernels_cache_in_this_source_versions_folder() -> None:
    assert numba.config.CACHE_DIR.endswith(source_fingerprint())
    assert source_fingerprint() in str(dynamics.consumer_day._cache._cache_path)
