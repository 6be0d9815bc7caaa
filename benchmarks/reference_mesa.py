"""A deliberately plain per-agent Mesa model of the daily dynamics: the yardstick and oracle.

Every consumer is a :class:`Consumer` (a ``mesa.Agent`` with plain Python attributes),
every brand store a :class:`Store` agent holding its queue and every rival showroom a
:class:`Rival` agent. One ``step()`` is one day:

0. the day's trust shift ``b_t = b0 + L(t) + O(t, S)``: ``L(t)`` the offset levers' and
   sales announcements' shift, ``O(t, S) = b_W w_online (1 - exp(-S / s_online))`` plus
   the testimonial lever's events the online testimonials, with ``S`` the stock of
   testimonial sources in people (the sum of every consumer's strength at the end of
   yesterday, times the consumer weight); the open sites of the store choice (brand
   stores with capacity, rival showrooms) grouped into destinations;

1. consumers, in random order (``agents_by_type[Consumer].shuffle_do("step")``):

   * media: reached with probability ``m(t)`` (the media lever's reach), a contact adds
     ``w_M`` to the day's exposure increment;
   * sightings ``n ~ Poisson(R)`` with ``R = sum_j rate_j`` over the open stores of the
     consumer's exposure row (weekday or weekend rates), split over the stores by
     ``Multinomial(n, rate_j / R)``, adding ``sum_j w_j n_j``;
   * adstock ``E <- delta E + x`` (``delta = 0.5 ** (1 / H)``), wear-out
     ``W <- delta_w W + x``, with ``x`` the day's increment (sightings and media);
   * familiarity (Hill) ``F = x^s / (x^s + K^s)`` with ``x = max(E - w_T W, 0)``;
   * word of mouth ``WOM``: mean of the contacts' testimonial strengths at the end of
     yesterday (everyone's mean with full mixing);
   * trust ``T = logistic(b_t + b_F F + b_W WOM + u)``;
   * out of the market: enter with ``1 - exp(-h / 365)``; in the market: leave with
     ``1 / D``, otherwise decide with ``1 - exp(-(r T + q WOM))``; pent up (a share
     ``pent_up_share`` starts so): decide with ``1 - exp(-1 / m_pent)``, whatever the
     trust, and never leave;
   * a decision is a test-drive intent with probability ``test_drive_share``, otherwise
     an online order;
   * a test-drive intent chooses among the destinations and no visit with
     ``P_g = a_g / (sum_k a_k + a_0)``: a site's attraction is
     ``a_j = A_j max(d_j, d_min)^-lambda`` with ``d_j`` the distance from home, or with
     ``travel_from = "home_or_commute"`` from the straight home-work segment; sites of one
     brand closer than ``d_min`` (transitively) are one destination with
     ``a_g = max_{j in g} a_j``, its site drawn in proportion to ``A_j``; the outside
     option's ``a_0 = outside_km^-lambda`` (0 when switched off). A brand store: the
     booking joins its queue; a rival: lost to the brand (``LOST_TO_RIVAL``); no visit
     (or no site open at all): back in the market;
   * an online order buys with ``P_online``, ``logit P_online = logit P_td + log(r_online)``
     (``P_td`` below), else the consumer leaves the market;

2. stores (``agents_by_type[Store].do("step")``): serve up to ``c`` test drives from the
   queue, first come first served, with ``c = floor(C / weight)`` plus one with
   probability ``frac(C / weight)`` (C real test drives a day, one simulated consumer
   stands for ``weight`` people); bookings waiting ``patience`` days or more are lost and
   the consumer goes back to the market; a closed store loses its whole queue. A test
   drive ends in a purchase with ``P_td = logistic(logit(c) + slope (T - 0.5))``; those
   who do not buy leave the market;

3. consumers ``do("advance")``: today's testimonial strength ``S <- delta_S S (+1 per
   purchase, + w_td per test drive)`` becomes the one contacts hear tomorrow.

It reads the same inputs as the production model (population, exposure rates, stores,
rivals, city and scenario of a built :class:`simulator.model.footprint_model.FootprintModel`)
but shares none of its code and draws its own random numbers from a
``numpy.random.Generator``: it is a statistical oracle, not a bit-for-bit copy.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque

import mesa
import numpy as np

OUT, IN_MARKET, WAITING, ADOPTED = "out", "in market", "waiting", "adopted"
PENT_UP, LOST_TO_RIVAL = "pent up", "lost to rival"
BRAND = None  # the brand of the brand's own stores (a rival's brand is a non-empty name)
WINDOW_DAYS = 28
COUNTS = (
    "sightings",
    "media_contacts",
    "test_drive_intents",
    "bookings_requested",
    "bookings_to_rivals",
    "intents_no_visit",
    "bookings_no_store",
    "test_drives",
    "bookings_lost",
    "online_orders",
    "purchases",
    "purchases_direct",
)


def retention(half_life_days: float) -> float:
    """Daily retention of a stock with half-life H: ``0.5 ** (1 / H)`` (1 when H is infinite)."""
    return 1.0 if math.isinf(half_life_days) else 0.5 ** (1.0 / half_life_days)


def segment_distance(point, start, end) -> float:
    """Distance from ``point`` to the segment ``start -> end`` (to ``start`` when they coincide)."""
    (px, py), (ax, ay), (bx, by) = point, start, end
    dx, dy = bx - ax, by - ay
    length_squared = dx * dx + dy * dy
    t = 0.0 if length_squared == 0 else min(max(((px - ax) * dx + (py - ay) * dy) / length_squared, 0.0), 1.0)
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


class Store(mesa.Agent):
    """A store: position, attractiveness, opening days, daily capacity and its queue."""

    brand = BRAND

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

    def book(self, consumer: Consumer) -> None:
        """A booking joins the queue."""
        self.queue.append((consumer, self.model.day))
        consumer.status = WAITING
        self.model.count("bookings_requested", self)


class Rival(mesa.Agent):
    """A rival's showroom: a booking there is lost to the brand."""

    def __init__(self, model, index, brand, xy, attractiveness, open_day, close_day):
        super().__init__(model)
        self.index, self.brand, self.xy, self.attractiveness = index, brand, xy, attractiveness
        self.open_day, self.close_day = open_day, close_day
        self.bookings = 0

    def is_open(self) -> bool:
        return self.open_day <= self.model.day < self.close_day

    def book(self, consumer: Consumer) -> None:
        consumer.status = LOST_TO_RIVAL
        self.bookings += 1
        self.model.count("bookings_to_rivals")


class Consumer(mesa.Agent):
    """One simulated consumer, with its state as plain attributes."""

    def __init__(self, model, index, home_xy, work_xy, sees, heterogeneity, status):
        super().__init__(model)
        self.index = index  # position in the production model's arrays (home order)
        self.home_xy, self.work_xy = home_xy, work_xy  # work = home for a non-commuter
        self.sees = sees  # [(store, rate weekday, rate weekend, weight weekday, weight weekend)]
        self.u = heterogeneity
        self.status = status
        self.contacts: list[Consumer] = []
        self.stock = self.wear = self.familiarity = self.trust = 0.0
        self.source = self.source_today = 0.0  # testimonial strength: end of yesterday, today
        self.aware = False
        self.recent = deque()  # (day, sightings) of the last 28 days

    def step(self) -> None:
        model, rng = self.model, self.model.rng
        increment = 0.0
        reached = model.media_reach > 0 and rng.random() < model.media_reach
        if reached:
            increment += model.media_weight
            model.count("media_contacts")
        sightings, increment = self.sight(increment)
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
        elif self.status == PENT_UP:
            decided = rng.random() < model.pent_up_rate
        elif self.status == IN_MARKET:
            if rng.random() < model.exit:
                self.status = OUT
            else:
                decided = rng.random() < 1.0 - math.exp(-(model.booking_rate * self.trust + model.referral_rate * wom))
        if decided:
            if rng.random() < model.test_drive_share:
                self.intend_test_drive()
            else:
                self.order_online()
        if sightings > 0 or reached or wom > 0 or self.status == ADOPTED or decided:
            self.aware = True
        model.today["in_market"] += decided or self.status in (IN_MARKET, WAITING, PENT_UP)

    def sight(self, increment: float) -> tuple[int, float]:
        """Today's sightings: Poisson of the open stores' total rate, split by rate."""
        model, rng, day = self.model, self.model.rng, self.model.day
        rate_column, weight_column = (2, 4) if model.weekend else (1, 3)
        visible = [entry for entry in self.sees if entry[0].is_open()]
        total = sum(entry[rate_column] for entry in visible)
        sightings = 0
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
        return sightings, increment

    def intend_test_drive(self) -> None:
        """Choose a destination or no visit (Huff/MCI with an outside option); book there."""
        model = self.model
        model.count("test_drive_intents")
        if not model.destinations:
            self.status = IN_MARKET
            model.count("bookings_no_store")
            return
        start, end = self.home_xy, (self.work_xy if model.from_commute else self.home_xy)
        pulls = [
            max(
                site.attractiveness
                * max(segment_distance(site.xy, start, end) / 1000.0, model.huff_min_km) ** -model.huff_lambda
                for site in destination
            )
            for destination in model.destinations
        ]
        pulls.append(model.outside_pull)
        choice = int(model.rng.choice(len(pulls), p=np.array(pulls) / sum(pulls)))
        if choice == len(model.destinations):
            self.status = IN_MARKET
            model.count("intents_no_visit")
            return
        destination = model.destinations[choice]
        weights = np.array([site.attractiveness for site in destination])
        destination[int(model.rng.choice(len(destination), p=weights / weights.sum()))].book(self)

    def order_online(self) -> None:
        """An online order: buy with the test-drive odds times the online odds ratio, else leave."""
        model = self.model
        model.count("online_orders")
        p = model.conversion_probability(self.trust)
        odds = model.online_odds_ratio * p / (1.0 - p) if p < 1.0 else math.inf
        if model.rng.random() < (1.0 if math.isinf(odds) else odds / (1.0 + odds)):
            self.status = ADOPTED
            self.source_today += 1.0
            model.count("purchases")
            model.count("purchases_direct")
        else:
            self.status = OUT

    def test_drive(self, store: Store) -> None:
        """A test drive: buy with ``logistic(logit(c) + slope (T - 0.5))``, else leave the market."""
        model = self.model
        if model.rng.random() < model.conversion_probability(self.trust):
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


def destinations_of(sites: list, radius_m: float) -> list[list]:
    """Group sites into destinations: sites of one brand closer than ``radius_m``, transitively."""
    groups: list[list] = []
    for site in sites:
        near = [g for g in groups if any(o.brand == site.brand and math.dist(o.xy, site.xy) < radius_m for o in g)]
        merged = [site] + [member for group in near for member in group]
        groups = [g for g in groups if all(g is not n for n in near)] + [merged]
    return groups


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
    rivals : simulator.model.plan.PlacedRivals, optional
        The rivals' showrooms (none by default).
    """

    def __init__(self, scenario, population, exposure, stores, city, rng: np.random.Generator, rivals=None):
        super().__init__(rng=rng)
        behaviour, levers = scenario.behaviour, scenario.levers
        testimonials, media = levers.testimonials, levers.media
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
        self.media_weight = media.exposure_weight if media.enabled else 0.0
        self.full_mixing = scenario.population.mixing == "full"
        self.enter = 1.0 - math.exp(-behaviour.in_market_rate_per_year / 365.0)
        self.exit = 1.0 / behaviour.in_market_duration_days
        self.pent_up_rate = 1.0 - math.exp(-1.0 / scenario.launch.pent_up_mean_days_to_act)
        self.booking_rate, self.test_drive_share = behaviour.booking_rate_per_day, behaviour.test_drive_share
        self.huff_lambda, self.huff_min_km = behaviour.huff_lambda, behaviour.huff_min_distance_km
        self.outside_pull = behaviour.outside_option_km**-self.huff_lambda if behaviour.outside_option else 0.0
        self.from_commute = behaviour.travel_from == "home_or_commute"
        self.patience = behaviour.queue_patience_days
        self.conversion, self.conversion_slope = behaviour.conversion, behaviour.conversion_trust_slope
        self.online_odds_ratio = behaviour.online_conversion_odds_ratio
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
        self.rivals = [
            Rival(
                self,
                r,
                str(rivals.brands[r]),
                tuple(rivals.xy[r]),
                float(rivals.attractiveness[r]),
                int(rivals.open_day[r]),
                int(rivals.close_day[r]),
            )
            for r in range(len(rivals) if rivals is not None else 0)
        ]
        self.consumers = self._consumers(scenario, population, exposure, city)
        self.daily_rows: list[dict] = []
        self.cumulative_purchases = 0
        self.online_trust_shift = 0.0  # the last day's shift of trust by online testimonials

    def _consumers(self, scenario, population, exposure, city) -> list[Consumer]:
        """One agent per consumer: exposure row, home and work, trust offset, initial status, contacts."""
        in_market_share = self.enter / (self.enter + self.exit) if self.enter > 0 else 0.0
        pent_up_share = scenario.launch.pent_up_share
        consumers = []
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
            if self.rng.random() < pent_up_share:
                status = PENT_UP
            u = scenario.behaviour.trust_heterogeneity_sd * float(population.standard_normal[i])
            home = tuple(city.cell_xy[population.home_cell[i]])
            work_cell = population.work_cell[i]
            work = tuple(city.cell_xy[work_cell]) if work_cell >= 0 else home
            consumers.append(Consumer(self, i, home, work, sees, u, status))
        for i, consumer in enumerate(consumers):
            first, last = population.contact_indptr[i], population.contact_indptr[i + 1]
            consumer.contacts = [consumers[j] for j in population.contact_indices[first:last]]
        return consumers

    def conversion_probability(self, trust: float) -> float:
        """``P_td = logistic(logit(c) + slope (T - 0.5))`` (``c`` itself when c is 0 or 1)."""
        c = self.conversion
        if c <= 0.0 or c >= 1.0:
            return c
        return 1.0 / (1.0 + math.exp(-(math.log(c / (1.0 - c)) + self.conversion_slope * (trust - 0.5))))

    def count(self, what: str, store: Store | None = None, how_many: int = 1) -> None:
        """Add to today's total of ``what`` (and to the store's total)."""
        self.today[what] += how_many
        if store is not None:
            store.totals[what] += how_many

    def step(self) -> None:
        """One day: trust shift and sites, consumers (random order), stores, then testimonials become audible."""
        self.weekend = (self.start_date + dt.timedelta(days=self.day)).weekday() >= 5
        sources = sum(c.source for c in self.consumers)
        self.online_trust_shift = self.levers.testimonials.online_effect(self.day, sources * self.weight)
        self.shift = self.intercept + self.levers.trust_shift(self.day) + self.online_trust_shift
        self.mean_source = sources / len(self.consumers) if self.full_mixing else 0.0
        self.media_reach = self.levers.media.reach(self.day)
        sites = [s for s in self.stores if s.is_open() and s.capacity > 0] + [r for r in self.rivals if r.is_open()]
        self.destinations = destinations_of(sites, 1000.0 * self.huff_min_km)
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

    def rival_bookings(self) -> dict[int, int]:
        """Bookings lost to each rival showroom over the horizon: ``{rival index: total}``."""
        return {r.index: r.bookings for r in self.rivals}


def reference_from(model, rng: np.random.Generator) -> ReferenceModel:
    """A reference model on the inputs of a built production ``FootprintModel``."""
    return ReferenceModel(
        model.scenario, model.population, model.exposure, model.stores, model.city, rng, rivals=model.rivals
    )
