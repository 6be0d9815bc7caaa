"""Storage: run results as tables, run folders, metadata, atomic writes.

Modules: :mod:`~simulator.results.contract` (:class:`RunResult`, table columns, run-folder
names, :func:`validate_run`), :mod:`~simulator.results.aggregates` (per-store totals and
replication means), :mod:`~simulator.results.metadata` (``metadata.json``, plain JSON),
:mod:`~simulator.results.table_files` (Parquet and GeoPackage),
:mod:`~simulator.results.uncertainty` (Monte-Carlo standard errors, rankings within noise),
:mod:`~simulator.results.spreadsheet` (``summary.xlsx``),
:mod:`~simulator.results.trade_areas` (trade areas, catchments, transfers between plans),
:mod:`~simulator.results.run_folder` (writing and reading a run folder's tables) and
:mod:`~simulator.config.atomic` (the one temporary-then-rename mechanism).

Storage never calls presentation. May import: ``simulator.config``.
"""

from __future__ import annotations

from simulator.config.atomic import (
    atomic_folder,
    atomic_path,
    atomic_write_text,
    check_folder_free,
    check_free_space,
    check_writable,
    folder_lock,
    reserve_folder,
    swap_into_place,
)
from simulator.results.aggregates import replication_means, store_totals
from simulator.results.contract import (
    COUNT_NAMING,
    DAILY_COUNT_COLUMNS,
    FIGURES_DIR,
    GEOPACKAGE_CRS,
    GEOPACKAGE_FILE,
    METADATA_FILE,
    REPORT_FILE,
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    SUMMARY_KPIS,
    SUMMARY_TABLES,
    TABLE_NAMES,
    RunResult,
    validate_run,
)
from simulator.results.metadata import (
    build_metadata,
    capacity_granularity_warning,
    merge_warnings,
    package_versions,
    to_jsonable,
    utc_now_iso,
    write_json,
)
from simulator.results.run_folder import (
    default_run_dir,
    estimate_run_folder_bytes,
    read_run,
    summary_tables,
    write_run_tables,
)
from simulator.results.spreadsheet import SUMMARY_WORKBOOK_FILE, sheet_name, write_summary_workbook
from simulator.results.table_files import gpkg_safe, write_geopackage, write_parquet
from simulator.results.trade_areas import (
    CATCHMENT_SHARES,
    TRADE_AREA_COUNTS,
    catchment_column,
    catchment_frame,
    catchment_summary,
    trade_area_summary,
    transfer_matrix,
    transfer_table,
)
from simulator.results.uncertainty import NOISE_MARK, NOISE_NOTE, Z_95, ranking_within_noise, se_name

__all__ = [
    "CATCHMENT_SHARES",
    "TRADE_AREA_COUNTS",
    "catchment_column",
    "catchment_frame",
    "catchment_summary",
    "trade_area_summary",
    "transfer_matrix",
    "transfer_table",
    "COUNT_NAMING",
    "DAILY_COUNT_COLUMNS",
    "FIGURES_DIR",
    "GEOPACKAGE_CRS",
    "GEOPACKAGE_FILE",
    "METADATA_FILE",
    "NOISE_MARK",
    "NOISE_NOTE",
    "REPORT_FILE",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "SUMMARY_KPIS",
    "SUMMARY_TABLES",
    "SUMMARY_WORKBOOK_FILE",
    "TABLE_NAMES",
    "Z_95",
    "RunResult",
    "atomic_folder",
    "atomic_path",
    "atomic_write_text",
    "build_metadata",
    "capacity_granularity_warning",
    "check_folder_free",
    "check_free_space",
    "check_writable",
    "default_run_dir",
    "estimate_run_folder_bytes",
    "folder_lock",
    "gpkg_safe",
    "merge_warnings",
    "package_versions",
    "ranking_within_noise",
    "read_run",
    "se_name",
    "sheet_name",
    "replication_means",
    "reserve_folder",
    "store_totals",
    "summary_tables",
    "swap_into_place",
    "to_jsonable",
    "utc_now_iso",
    "validate_run",
    "write_geopackage",
    "write_json",
    "write_parquet",
    "write_run_tables",
    "write_summary_workbook",
]
