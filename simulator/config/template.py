"""The commented scenario template that ``footprint init`` writes.

Every section a scenario may hold is shown, with a comment on what it does; keys left at
their default are commented out with the default's value (from the schema, see
``docs/scenario-reference.md``). The template is a valid scenario on the shipped Beijing
bundle, small enough to run in seconds (tests/test_cli_commands.py runs it).
"""

from __future__ import annotations

__all__ = ["SCENARIO_TEMPLATE"]

SCENARIO_TEMPLATE = """\
# A footprint scenario: a city, a simulated population, a brand's store plan, how people
# react to what they see, the brand's other levers, and how long to simulate.
# Check it with `footprint validate FILE`, run it with `footprint run FILE`.
# Every key and its default: docs/scenario-reference.md, or `footprint schema --markdown`.
# Keys commented out below are at their default value.

name = "my_scenario"
description = "Three stores in Beijing: two in malls, one street store by a subway station"
seed = 20240328          # root seed: the same seed gives the same results
replications = 1         # runs that differ only in seed (5 or more give confidence intervals)

# The city bundle: a name shipped under geo/ (beijing) or the path of a GeoPackage.
# `footprint city sites beijing` lists its malls, stations and street sites with their ids.
[city]
bundle = "beijing"

# The simulated consumers; each stands for (residents / consumers) people.
[population]
consumers = 5000               # a number (at least 100), or "all" for one per resident
# commuter_share = 0.6         # share of consumers with a workplace
# mean_commute_km = 13.0       # target mean one-way commute (Beijing: 13 km)
# mall_visits_per_week = 0.8
# contacts_per_consumer = 6    # word-of-mouth contacts
# [population.mode_shares]     # how commuters travel
# subway = 0.35
# bus = 0.15
# car = 0.3
# active = 0.2

# How long to simulate, from which date (weekdays and weekends follow the calendar).
[horizon]
days = 90
start_date = 2024-03-28

# The brand's stores. Place each by `mall` (a mall id or name), `station` (a subway
# station name or id: the store is next to it) or `lon`/`lat` (WGS84 unless `crs` says
# gcj02, bd09 or EPSG:<code>). Capacity, attractiveness and visibility default by format.
[plan]
name = "three stores"
# stores_file = "stores.csv"   # more stores from a CSV or GeoJSON file

[[plan.stores]]
id = "hopson-one"
name = "Hopson One"
mall = "BJ-M11"
# format = "mall"              # mall, street, flagship, popup or delivery_centre
# open_day = 0                 # first day open (0 = the first simulated day)
# capacity_per_day = 60        # test-drive slots per day

[[plan.stores]]
id = "china-world"
name = "China World Mall"
mall = "BJ-M01"
open_day = 30

[[plan.stores]]
id = "guomao-street"
name = "Guomao street store"
station = "国贸"
format = "street"

# How sightings build familiarity, and how trust turns into test drives and purchases.
[behaviour]
# adstock_half_life_days = 28.0   # how fast the memory of sightings fades
# hill_k = 3.0                    # sightings for half-saturated familiarity
# booking_rate_per_day = 0.003    # daily booking hazard per unit trust, when in market
# test_drive_share = 0.8          # deciders who want a test drive first
# conversion = 0.3                # P(purchase | test drive) at trust 0.5
# queue_patience_days = 7         # days a waiting booking stays in a full store's queue

# The brand's other reasons to believe, each a shift of trust (log-odds) with dated events.
[levers.founder_endorsement]
offset = 0.25
events = [{ kind = "shock", day = 0, size = 0.6, half_life_days = 30 }]

# [levers.sales_announcements]
# announcements = [{ day = 5, cumulative_orders = 40000 }]

# Rival brands' showrooms compete for test drives (none by default).
# [[rivals.showrooms]]
# id = "rival-1"
# brand = "Rival"
# mall = "BJ-M02"

# Demand waiting for the launch on day 0 (none by default).
# [launch]
# pent_up_share = 0.0

# How to run: local worker processes for the replications.
# [run]
# workers = 1
"""
