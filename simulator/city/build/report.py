"""What a build found, repaired, skipped and dropped: counts per input layer and the build report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BuildReport", "LayerCount"]


@dataclass
class LayerCount:
    """What happened to the features of one layer.

    ``found``: features seen; ``repaired``: geometries rebuilt or made valid;
    ``skipped``: unusable geometry (or value); ``outside``: outside the boundary
    or the city area; ``dropped``: left out for another reason (``note`` says
    which); ``kept``: what made it into the bundle.
    """

    found: int = 0
    repaired: int = 0
    skipped: int = 0
    outside: int = 0
    dropped: int = 0
    kept: int = 0
    note: str = ""


@dataclass
class BuildReport:
    """Counts and notes of one build (printed by ``footprint city build``)."""

    name: str
    out_path: Path
    metric_crs: str
    population_file: str
    population_column: str
    population_crs: str
    population_found: int
    population_kept: int
    jobs_total: int
    zone_rule: str
    counts: dict[str, LayerCount] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rows_written: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    file_bytes: int = 0

    def table_rows(self) -> list[tuple[str, ...]]:
        """(layer, found, repaired, skipped, outside, dropped, kept) as text, one row per layer."""
        keys = ("found", "repaired", "skipped", "outside", "dropped", "kept")
        return [(layer, *(f"{getattr(count, key):,}" for key in keys)) for layer, count in self.counts.items()]

    def layer_notes(self) -> list[str]:
        """``layer: note`` for the layers that have a note."""
        return [f"{layer}: {count.note}" for layer, count in self.counts.items() if count.note]
