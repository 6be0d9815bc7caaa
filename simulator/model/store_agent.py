"""Stores as Mesa agents: opening days, test-drive capacity, the queue, and the store-day row.

A :class:`StoreAgent` belongs to a :class:`simulator.model.footprint_model.FootprintModel`.
Each day the model hands it the day's bookings (:meth:`StoreAgent.receive`), then Mesa
calls :meth:`StoreAgent.serve` on every store: up to the day's capacity of test drives,
first come first served, and bookings older than the queue patience are abandoned. The
store's row of the per-store daily table (columns :data:`STORE_DAY_COLUMNS`) comes from
:meth:`StoreAgent.day_row`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from simulator.model.plan import FORMATS, PlacedStores

if TYPE_CHECKING:
    from simulator.model.footprint_model import FootprintModel

STORE_DAY_COLUMNS = (
    "day",
    "store_id",
    "store_name",
    "format",
    "is_open",
    "capacity",
    "sightings",
    "bookings_requested",
    "test_drives",
    "bookings_lost",
    "queue_length",
    "purchases",
    "utilisation",
)
"""Columns of the per-store daily rows (``stores.parquet`` without replication and seed)."""


NOBODY = np.zeros(0, dtype=np.int64)
NOBODY.flags.writeable = False


class StoreAgent(mesa.Agent):
    """A store: position, format, opening days, test-drive capacity and its queue.

    The queue holds bookings (consumer index, day booked) in arrival order.
    """

    model: FootprintModel

    def __init__(self, model: FootprintModel, index: int, stores: PlacedStores, consumer_weight: float) -> None:
        super().__init__(model)
        self.index = index
        self.store_id = str(stores.ids[index])
        self.name = str(stores.names[index])
        self.format = FORMATS[int(stores.format_code[index])]
        self.capacity = int(stores.capacity[index])
        # One simulated consumer stands for ``consumer_weight`` people, so a store serves
        # capacity / weight simulated test drives a day: the whole part every day and one
        # more with probability equal to the fractional part (a counter-based draw).
        self.simulated_capacity = self.capacity / consumer_weight
        self.open_day = int(stores.open_day[index])
        self.close_day = int(stores.close_day[index])
        self.queue_consumers = np.zeros(0, dtype=np.int64)
        self.queue_days = np.zeros(0, dtype=np.int64)
        self.reset_day()

    def reset_day(self) -> None:
        """Clear the day's counters."""
        self.requested_today = 0
        self.served_today = NOBODY
        self.lost_today = NOBODY

    def is_open(self, day: int) -> bool:
        return self.open_day <= day < self.close_day

    def receive(self, consumers: np.ndarray, day: int) -> None:
        """Append today's bookings to the queue."""
        self.requested_today += len(consumers)
        self.queue_consumers = np.concatenate([self.queue_consumers, consumers])
        self.queue_days = np.concatenate([self.queue_days, np.full(len(consumers), day, dtype=np.int64)])

    def serve(self) -> None:
        """Hold up to ``capacity`` test drives; drop bookings past the patience time."""
        day = self.model.day
        if not self.is_open(day):
            self.lost_today = self.queue_consumers
            self.queue_consumers = self.queue_consumers[:0]
            self.queue_days = self.queue_days[:0]
            return
        whole = int(self.simulated_capacity)
        capacity_today = whole + int(self.model.capacity_draws[self.index] < self.simulated_capacity - whole)
        served = min(capacity_today, len(self.queue_consumers))
        self.served_today = self.queue_consumers[:served]
        waiting, booked = self.queue_consumers[served:], self.queue_days[served:]
        expired = day - booked >= self.model.patience_days
        self.lost_today = waiting[expired]
        self.queue_consumers, self.queue_days = waiting[~expired], booked[~expired]

    @property
    def queue_length(self) -> int:
        return len(self.queue_consumers)

    def day_row(self, day: int, sightings: int, buyers: set[int], consumer_weight: float) -> dict[str, Any]:
        """The store's row of the per-store daily table (columns :data:`STORE_DAY_COLUMNS`).

        ``buyers`` are the consumers who bought after today's test drives (at any store);
        utilisation is the share of the capacity used, in people.
        """
        is_open = self.is_open(day)
        held = len(self.served_today)
        return {
            "day": day,
            "store_id": self.store_id,
            "store_name": self.name,
            "format": self.format,
            "is_open": is_open,
            "capacity": self.capacity,
            "sightings": sightings,
            "bookings_requested": self.requested_today,
            "test_drives": held,
            "bookings_lost": len(self.lost_today),
            "queue_length": self.queue_length,
            "purchases": sum(1 for c in self.served_today.tolist() if c in buyers),
            "utilisation": held * consumer_weight / self.capacity if (is_open and self.capacity > 0) else 0.0,
        }
