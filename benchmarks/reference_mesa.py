"""A deliberately plain per-agent Mesa model of the daily dynamics: the yardstick and oracle.

Every consumer is a :class:`Consumer` (a ``mesa.Agent`` with plain Python attributes)
and every store a :class:`Store` agent holding its queue. One ``step()`` is one day:

1. consumers, in random order (``agents_by_type[Consumer].shuffle_do("step")``):

   * sightings ``n ~ Poisson(R)`` with ``R = sum_j rate_j`` over the open stores of the
     consumer's exposure row (weekday or weekend rates), split over the stores by
     ``Multinomial(n, rate_j / R)``, adding ``sum_j w_j n_j``;
   * adstock ``E <- delta E + sum_j w_j n_j`` (``delta = 0.5 ** (1 / H)``), wear-out
     ``W <- delta_w W + sum_j w_j n_j``;
   * familiarity (Hill) ``F = x^s / (x^s + K^s)`` with ``x = max(E - w_T W, 0)``;
   * word of mouth ``WOM``: mean of the contacts' testimonial strengths at the end of
     yesterday (everyone's mean with full mixing);
   * trust ``T = logistic(b0 + L(t) + b_F F + b_W WOM + u)``, ``L(t)`` the levers' shift;
   * out of the market: enter with ``1 - exp(-h / 365)``; in the market: leave with
     ``1 / D``, otherwise decide with ``1 - exp(-(r T + q WOM))``; a decision is a
     test-drive booking with probability ``test_drive_share`` (the store chosen by Huff,
     ``P_j ∝ A_j max(d_j, d_min)^-lambda`` over open stores with capacity, from the home
     cell), otherwise a direct purchase;

2. stores (``agents_by_type[Store].do("step")``): serve up to ``c`` test drives from the
   queue, first come first served, with ``c = floor(C / weight)`` plus one with
   probability ``frac(C / weight)`` (C real test drives a day, one simulated consumer
   stands for ``weight`` people); bookings waiting ``patience`` days or more are lost and
   the consumer goes back to the market; a closed store loses its whole queue. A test
   drive ends in a purchase with ``logistic(logit(c) + slope (T - 0.5))``; those who do
   not buy leave the market;

3. consumers ``do("advance")``: today's testimonial strength ``S <- delta_S S (+1 per
   purchase, + w_td per test drive)`` becomes the one contacts hear tomorrow.

It reads the same inputs as the production model (population, exposure rates, stores,
city and scenario of a built :class:`simulator.model.footprint_model.FootprintModel`) but shares none of
its code and draws its own random numbers from a ``numpy.random.Generator``: it is a
statistical oracle, not a bit-for-bit copy.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque

import mesa
import numpy as np

OUT, IN_MARKET, WAITING, ADOPTED = "out", "in market", "waiting", "adopted"
WINDOW_DAYS = 28
COUNTS = (
    "sightings",
    "bookings_requested",
    "bookings_no_store",
    "test_drives",
    "bookings_lost",
    "purchases",
    "purchases_direct",
)


def retention(half_life_days: float) -> float:
    """Daily retention of a stock with half-life H: ``0.5 ** (1 / H)`` (1 when H is infinite)."""
    return 1.0 if math.isinf(half_life_days) else 0.5 ** (1.0 / half_life_days)


class Store(mesa.Agent):
    """A store: position, attractiveness, opening days, daily capacity and its queue."""

    def __init__(self, model, index, xy, attractiveness, capacity, open_day, close_day):
        super().__init__(model)
        self.index, self.xy, self.attractiveness = index, xy, attractiveness
        self.capacity, self.open_day, self.close_day = capacity, open_day, close_day
        self.simulated_capacity = capacity / model.weight
        self.queue = deque()  # (consumer, day booked), in arrival order
        self.served: list[int] = []  # indices of the consumers who held a test drive here
        self.lost: list[int] = []  # and of those whose booking was lost
        self.totals = dict.fromkeys(("sightings", "bookings_requested", "test_drives", "bookings_lost", "purchases"), 0)

    def is_open(self) -> bool:
        return self.open_day <= self.model.day < self.close_day

    def step(self) -> None:
        """Serve today's test drives and drop bookings past the patience time."""
        model = self.model
        if not self.is_open():
            self.lose(len(self.queue))
            return
        whole = int(self.simulated_capacity)
        slots = whole + int(model.rng.random() < self.simulated_capacity - whole)
        for _ in range(min(slots, len(self.queue))):
            consumer, _booked = self.queue.popleft()
            model.count("test_drives", self)
            self.served.append(consumer.index)
            consumer.test_drive(self)
        waiting = deque()
        while self.queue:
            consumer, booked = self.queue.popleft()
            if model.day - booked >= model.patience:
                self.lose_booking(consumer)
            else:
                waiting.append((consumer, booked))
        self.queue = waiting

    def lose(self, how_many: int) -> None:
        for _ in range(how_many):
            self.lose_booking(self.queue.popleft()[0])

    def lose_booking(self, consumer: Consumer) -> None:
        """The booking is abandoned: the consumer goes back to the market."""
        consumer.status = IN_MARKET
        self.lost.append(consumer.index)
        self.model.count("bookings_lost", self)


class Consumer(mesa.Agent):
    """One simulated consumer, with its state as plain attributes."""

    def __init__(self, model, index, home_xy, sees, heterogeneity, status):
        super().__init__(model)
        self.index = index  # position in the production model's arrays (home order)
        self.home_xy = home_xy
        self.sees = sees  # [(store, rate weekday, rate weekend, weight weekday, weight weekend)]
        self.u = heterogeneity
        self.status = status
        self.contacts: list[Consumer] = []
        self.stock = self.wear = self.familiarity = self.trust = 0.0
        self.source = self.source_today = 0.0  # testimonial strength: end of yesterday, today
        self.aware = False
        self.recent = deque()  # (day, sightings) of the last 28 days

    def step(self) -> None:
        model, rng, day = self.model, self.model.rng, self.model.day
        # Sightings: Poisson of the open stores' total rate, split by rate.
        rate_column, weight_column = (2, 4) if model.weekend else (1, 3)
        visible = [entry for entry in self.sees if entry[0].is_open()]
        total = sum(entry[rate_column] for entry in visible)
        sightings, increment = 0, 0.0
        if total > 0:
            sightings = int(rng.poisson(total))
            if sightings:
                split = rng.multinomial(sightings, [entry[rate_column] / total for entry in visible])
                for entry, seen in zip(visible, split):
                    model.count("sightings", entry[0], int(seen))
                    increment += seen * entry[weight_column]
                self.recent.append((day, sightings))
        while self.recent and day - self.recent[0][0] >= WINDOW_DAYS:
            self.recent.popleft()
        # Adstock, wear-out, Hill.
        self.stock = model.delta * self.stock + increment
        self.wear = model.delta_wear * self.wear + increment
        net = max(self.stock - model.wear_weight * self.wear, 0.0) if model.wear_weight > 0 else self.stock
        self.familiarity = net**model.hill_s / (net**model.hill_s + model.hill_k**model.hill_s)
        # Word of mouth from yesterday's testimonial strengths, then today's decay.
        if model.full_mixing:
            wom = model.mean_source
        else:
            wom = sum(contact.source for contact in self.contacts) / len(self.contacts) if self.contacts else 0.0
        self.source_today = model.delta_source * self.source
        # Trust.
        logit = model.shift + model.b_familiarity * self.familiarity + model.b_wom * wom + self.u
        self.trust = 1.0 / (1.0 + math.exp(-logit))
        # Market spells and decisions.
        decided = False
        if self.status == OUT:
            if rng.random() < model.enter:
                self.status = IN_MARKET
        elif self.status == IN_MARKET:
            if rng.random() < model.exit:
                self.status = OUT
            elif rng.random() < 1.0 - math.exp(-(model.booking_rate * self.trust + model.referral_rate * wom)):
                decided = True
                if rng.random() < model.test_drive_share:
                    self.book()
                else:
                    self.status = ADOPTED
                    self.source_today += 1.0
                    model.count("purchases")
                    model.count("purchases_direct")
        if sightings > 0 or wom > 0 or self.status == ADOPTED or decided:
            self.aware = True
        model.today["in_market"] += self.status in (IN_MARKET, WAITING)

    def book(self) -> None:
        """Book a test drive at a store chosen by Huff from home, or find none open."""
        model = self.model
        stores = [s for s in model.stores if s.is_open() and s.capacity > 0]
        if not stores:
            model.count("bookings_requested")
            model.count("bookings_no_store")
            return
        pulls = [
            s.attractiveness * max(math.dist(self.home_xy, s.xy) / 1000.0, model.huff_min_km) ** -model.huff_lambda
            for s in stores
        ]
        store = stores[int(model.rng.choice(len(stores), p=np.array(pulls) / sum(pulls)))]
        store.queue.append((self, model.day))
        self.status = WAITING
        model.count("bookings_requested", store)

    def test_drive(self, store: Store) -> None:
        """A test drive: buy with ``logistic(logit(c) + slope (T - 0.5))``, else leave the market."""
        model = self.model
        c = model.conversion
        if c <= 0.0 or c >= 1.0:
            p = c
        else:
            p = 1.0 / (1.0 + math.exp(-(math.log(c / (1.0 - c)) + model.conversion_slope * (self.trust - 0.5))))
        if model.rng.random() < p:
            self.status = ADOPTED
            self.source_today += 1.0
            model.count("purchases", store)
        else:
            self.status = OUT
            self.source_today += model.test_drive_source_weight

    def advance(self) -> None:
        """End of the day: today's testimonial strength is what contacts hear tomorrow."""
        self.source = self.source_today

    def sightings_in_window(self, day: int) -> int:
        """Sightings in the 28 days ending on ``day``."""
        return sum(n for d, n in self.recent if day - d < WINDOW_DAYS)


class ReferenceModel(mesa.Model):
    """The per-agent reference model.

    Parameters
    ----------
    scenario : simulator.config.scenario.Scenario
    population : simulator.model.population.Population
    exposure : simulator.model.exposure.Exposure
    stores : simulator.model.plan.PlacedStores
    city : simulator.city.bundle.City
    rng : numpy.random.Generator
        The model's own random numbers (market spells, sightings, choices, capacity).
    """

    def __init__(self, scenario, population, exposure, stores, city, rng: np.random.Generator):
        super().__init__(rng=rng)
        behaviour, levers = scenario.behaviour, scenario.levers
        testimonials = levers.testimonials
        self.horizon, self.start_date = scenario.horizon.days, scenario.horizon.start_date
        self.weight = population.weight
        self.delta = retention(behaviour.adstock_half_life_days)
        self.delta_wear = retention(behaviour.wearout_half_life_days)
        self.wear_weight, self.hill_k, self.hill_s = behaviour.wearout_weight, behaviour.hill_k, behaviour.hill_s
        self.levers, self.intercept = levers, behaviour.trust_intercept
        self.b_familiarity = levers.offline_footprint.weight if levers.offline_footprint.enabled else 0.0
        self.b_wom = testimonials.weight if testimonials.enabled else 0.0
        self.referral_rate = testimonials.referral_rate_per_year / 365.0 if testimonials.enabled else 0.0
        self.test_drive_source_weight = testimonials.test_drive_weight if testimonials.enabled else 0.0
        self.delta_source = retention(testimonials.source_half_life_days)
        self.full_mixing = scenario.population.mixing == "full"
        self.enter = 1.0 - math.exp(-behaviour.in_market_rate_per_year / 365.0)
        self.exit = 1.0 / behaviour.in_market_duration_days
        self.booking_rate, self.test_drive_share = behaviour.booking_rate_per_day, behaviour.test_drive_share
        self.huff_lambda, self.huff_min_km = behaviour.huff_lambda, behaviour.huff_min_distance_km
        self.patience = behaviour.queue_patience_days
        self.conversion, self.conversion_slope = behaviour.conversion, behaviour.conversion_trust_slope
        self.day = 0
        self.stores = [
            Store(
                self,
                j,
                tuple(stores.xy[j]),
                float(stores.attractiveness[j]),
                int(stores.capacity[j]),
                int(stores.open_day[j]),
                int(stores.close_day[j]),
            )
            for j in range(len(stores))
        ]
        in_market_share = self.enter / (self.enter + self.exit) if self.enter > 0 else 0.0
        self.consumers = []
        for i in range(population.n):
            row = exposure.consumer_class[i]
            sees = [
                (
                    self.stores[exposure.indices[e]],
                    float(exposure.rate_weekday[e]),
                    float(exposure.rate_weekend[e]),
                    float(exposure.weight_weekday[e]),
                    float(exposure.weight_weekend[e]),
                )
                for e in range(exposure.indptr[row], exposure.indptr[row + 1])
            ]
            status = IN_MARKET if self.rng.random() < in_market_share else OUT
            u = behaviour.trust_heterogeneity_sd * float(population.standard_normal[i])
            self.consumers.append(Consumer(self, i, tuple(city.cell_xy[population.home_cell[i]]), sees, u, status))
        for i, consumer in enumerate(self.consumers):
            first, last = population.contact_indptr[i], population.contact_indptr[i + 1]
            consumer.contacts = [self.consumers[j] for j in population.contact_indices[first:last]]
        self.daily_rows: list[dict] = []
        self.cumulative_purchases = 0

    def count(self, what: str, store: Store | None = None, how_many: int = 1) -> None:
        """Add to today's total of ``what`` (and to the store's total)."""
        self.today[what] += how_many
        if store is not None:
            store.totals[what] += how_many

    def step(self) -> None:
        """One day: consumers (random order), stores, then testimonials become audible."""
        self.weekend = (self.start_date + dt.timedelta(days=self.day)).weekday() >= 5
        self.shift = self.intercept + self.levers.trust_shift(self.day)
        self.mean_source = sum(c.source for c in self.consumers) / len(self.consumers) if self.full_mixing else 0.0
        self.today = dict.fromkeys(COUNTS + ("in_market",), 0)
        self.agents_by_type[Consumer].shuffle_do("step")
        if self.stores:
            self.agents_by_type[Store].do("step")
        self.agents_by_type[Consumer].do("advance")
        self.cumulative_purchases += self.today["purchases"]
        queue_length = sum(len(s.queue) for s in self.stores)
        self.today.update(day=self.day, queue_length=queue_length, cumulative_purchases=self.cumulative_purchases)
        self.daily_rows.append(self.today)
        self.day += 1
        self.running = self.day < self.horizon

    def run(self) -> ReferenceModel:
        while self.day < self.horizon:
            self.step()
        return self

    def end_state(self) -> dict[str, float]:
        """End-of-horizon shares and means over consumers (after the last day)."""
        consumers, last = self.consumers, self.day - 1
        n = len(consumers)
        windows = [c.sightings_in_window(last) for c in consumers]
        return {
            "share_aware": sum(c.aware for c in consumers) / n,
            "mean_familiarity": sum(c.familiarity for c in consumers) / n,
            "share_familiar": sum(c.familiarity >= 0.5 for c in consumers) / n,
            "mean_trust": sum(c.trust for c in consumers) / n,
            "reach_28d": sum(w >= 1 for w in windows) / n,
            "effective_frequency_28d": sum(w >= 3 for w in windows) / n,
        }

    def store_totals(self) -> dict[int, dict[str, int]]:
        """Totals over the horizon per store: ``{store index: {count name: total}}``."""
        return {s.index: dict(s.totals) for s in self.stores}


def reference_from(model, rng: np.random.Generator) -> ReferenceModel:
    """A reference model on the inputs of a built production ``FootprintModel``."""
    return ReferenceModel(model.scenario, model.population, model.exposure, model.stores, model.city, rng)
