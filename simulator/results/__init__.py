"""Storage: run results as tables, run folders, metadata, atomic writes.

Storage never calls presentation. May import: ``simulator.config``.
"""

from __future__ import annotations

from simulator.results.atomic import atomic_path, swap_into_place
from simulator.results.run_folder import DAILY_COUNT_COLUMNS, FIGURES_DIR, GEOPACKAGE_CRS, REPORT_FILE, RunResult, SCHEMA_VERSION, SUMMARY_KPIS, build_metadata, default_run_dir, gpkg_safe, package_versions, replication_means, store_totals, to_jsonable, utc_now_iso, write_json, write_parquet

__all__ = ["DAILY_COUNT_COLUMNS", "FIGURES_DIR", "GEOPACKAGE_CRS", "REPORT_FILE", "RunResult", "SCHEMA_VERSION", "SUMMARY_KPIS", "atomic_path", "build_metadata", "default_run_dir", "gpkg_safe", "package_versions", "replication_means", "store_totals", "swap_into_place", "to_jsonable", "utc_now_iso", "write_json", "write_parquet"]
