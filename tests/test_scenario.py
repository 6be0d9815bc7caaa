"""Tests of simulator.config (scenario files): schema, loading, errors, overrides, hashing, docs."""

import json
import math
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.config.canonical import canonical_json, parse_canonical_json, scenario_hash, short_hash
from simulator.config.errors import ScenarioError
from simulator.config.formats import FORMAT_DEFAULTS, FORMATS
from simulator.config.overrides import apply_overrides, parse_set_options
from simulator.config.problems import MAX_PROBLEMS_SHOWN
from simulator.config.reference import describe, reference_markdown, scenario_json_schema
from simulator.config.scenario import Scenario, load_scenario, parse_scenario
from simulator.config.schema_levers import LeverEvent, Levers, SalesAnnouncementsLever
from simulator.config.toml_files import parse_override_value

DATA = Path(__file__).parent / "data" / "scenarios"
REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "scenario-reference.md"


def error_of(function, *args, **kwargs) -> str:
    with pytest.raises(ScenarioError) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, "errors must be one line"
    return message


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# Valid files and defaults
# --------------------------------------------------------------------------------------


def test_tiny_valid_loads_with_given_values_and_defaults():
    scenario = load_scenario(DATA / "tiny_valid.toml")
    assert scenario.name == "tiny_valid"  # default: the file stem
    assert scenario.seed == 7 and scenario.replications == 2
    assert scenario.population.consumers == 2000
    assert scenario.behaviour.hill_k == 4.0
    mall_store, street_store = scenario.plan.stores
    assert (mall_store.id, mall_store.name, mall_store.mall, mall_store.format) == ("mall-1", "mall-1", "M001", "mall")
    assert mall_store.position_kind == "mall"
    assert (mall_store.capacity_per_day, mall_store.attractiveness, mall_store.visibility_radius_m) == (60, 1.0, 50.0)
    assert street_store.format == "street" and street_store.position_kind == "lonlat"
    assert street_store.capacity_per_day == 30  # given, not the street default 40
    assert street_store.attractiveness == 0.8 and street_store.visibility_radius_m == 150.0
    assert street_store.open_day == 14 and street_store.close_day is None
    assert not street_store.is_open_on(13) and street_store.is_open_on(14)
    event = scenario.levers.founder_endorsement.events[0]
    assert (event.kind, event.day, event.size, event.half_life_days) == ("shock", 30, -1.0, 21.0)
    assert scenario.horizon.days == 120
    assert scenario.resolved_bundle == "beijing"
    assert scenario.base_dir == DATA.absolute()


def levers_online_weight(scenario):
    """The online testimonials' weight relative to a contact's word of mouth."""
    return scenario.levers.testimonials.online_weight


def test_defaults_match_references_md():
    """Defaults are the ones REFERENCES.md and the brief give (written out here on purpose)."""
    scenario = parse_scenario({}, "empty.toml")
    assert scenario.name == "empty"
    assert scenario.seed == 20240328 and scenario.replications == 1
    assert scenario.city.bundle == "beijing"
    population = scenario.population
    assert population.consumers == 20000 and population.commuter_share == 0.6
    assert population.mean_commute_km == 13.0 and population.mall_visits_per_week == 0.8
    shares = population.mode_shares
    assert (shares.subway, shares.bus, shares.car, shares.active) == (0.35, 0.15, 0.30, 0.20)
    assert population.mall_choice_lambda == 2.0 and population.mixing == "network"
    behaviour = scenario.behaviour
    assert behaviour.adstock_half_life_days == 28 and behaviour.hill_k == 3 and behaviour.hill_s == 2
    assert behaviour.wearout_weight == 0 and behaviour.sighting_weight_vehicle == 0.4
    # Huff lambda 2: REFERENCES.md's value for malls, where the brand's stores are.
    assert behaviour.huff_lambda == 2.0 and behaviour.test_drive_share == 0.8 and behaviour.conversion == 0.3
    assert behaviour.outside_option and behaviour.outside_option_km == 10.0
    assert behaviour.online_conversion_odds_ratio == 0.3 and behaviour.travel_from == "home_or_commute"
    assert levers_online_weight(scenario) == pytest.approx(0.70 / 0.90, abs=0.005)  # Nielsen (2009)
    assert behaviour.in_market_rate_per_year == 0.04 and behaviour.in_market_duration_days == 90
    levers = scenario.levers
    assert levers.testimonials.referral_rate_per_year == 0.38
    assert levers.sales_announcements.max_effect == 0.18
    assert levers.offline_footprint.weight == 1.0
    assert [lever.offset for lever in levers.offset_levers().values()] == [0.3, 0.25, 0.3, 0.2]
    assert scenario.horizon.days == 365 and scenario.horizon.start_date == date(2024, 3, 28)
    assert scenario.run.workers == 1 and scenario.run.keep_store_days is True
    assert scenario.plan.stores == ()


@pytest.mark.parametrize(
    "store_format, capacity, attractiveness, radius",
    [
        ("mall", 60, 1.0, 50.0),
        ("street", 40, 0.8, 150.0),
        ("flagship", 100, 2.0, 300.0),
        ("popup", 20, 0.5, 80.0),
        ("delivery_centre", 0, 0.5, 100.0),
    ],
)
def test_store_defaults_resolved_by_format(store_format, capacity, attractiveness, radius):
    data = {"plan": {"stores": [{"id": "s", "station": "Xidan", "format": store_format}]}}
    store = parse_scenario(data, "f.toml").plan.stores[0]
    assert (store.capacity_per_day, store.attractiveness, store.visibility_radius_m) == (
        capacity,
        attractiveness,
        radius,
    )
    assert FORMAT_DEFAULTS[store_format].capacity_per_day == capacity


def test_sighting_probability_partial_table_keeps_format_defaults():
    data = {"behaviour": {"sighting_probability": {"street": {"walk": 0.7}}}}
    probabilities = parse_scenario(data, "s.toml").behaviour.sighting_probability
    assert (probabilities.street.walk, probabilities.street.vehicle, probabilities.street.mall_visit) == (0.7, 0.3, 0.0)
    assert (probabilities.mall.walk, probabilities.mall.vehicle, probabilities.mall.mall_visit) == (0.15, 0.0, 0.9)
    assert probabilities.for_format("flagship").walk == 0.8
    assert set(FORMATS) == set(type(probabilities).model_fields)


def test_delivery_centre_may_have_zero_capacity_but_other_formats_not():
    ok = {
        "plan": {"stores": [{"id": "d", "lon": 116.4, "lat": 39.9, "format": "delivery_centre", "capacity_per_day": 0}]}
    }
    assert parse_scenario(ok, "d.toml").plan.stores[0].capacity_per_day == 0
    bad = {"plan": {"stores": [{"id": "s", "lon": 116.4, "lat": 39.9, "capacity_per_day": 0}]}}
    assert error_of(parse_scenario, bad, "d.toml") == "d.toml: plan.stores[0].capacity_per_day: must be > 0, got 0"


def test_infinite_source_half_life_is_accepted():
    text = "[levers.testimonials]\nsource_half_life_days = inf\n"
    with tempfile.TemporaryDirectory() as folder:
        scenario = load_scenario(write(Path(folder), "inf.toml", text))
    assert math.isinf(scenario.levers.testimonials.source_half_life_days)
    message = error_of(parse_scenario, {"behaviour": {"hill_k": math.inf}}, "x.toml")
    assert message.startswith("x.toml: behaviour.hill_k: must be a finite number")


def test_relative_bundle_path_resolved_against_scenario_folder(tmp_path):
    path = write(tmp_path, "city.toml", '[city]\nbundle = "../geo/other.gpkg"\n')
    scenario = load_scenario(path)
    assert scenario.city.bundle == "../geo/other.gpkg"  # kept as given
    assert scenario.resolved_bundle == tmp_path.absolute() / "../geo/other.gpkg"
    assert '"bundle":"../geo/other.gpkg"' in canonical_json(scenario)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_unknown_keys_get_did_you_mean_hints_at_every_level():
    message = error_of(load_scenario, DATA / "unknown_keys.toml")
    problems = set(message.split("; "))
    assert problems == {
        "unknown_keys.toml: seeed: unknown key (did you mean 'seed'?)",
        "unknown_keys.toml: behaviour.adstok_half_life_days: unknown key (did you mean 'adstock_half_life_days'?)",
        "unknown_keys.toml: plan.stores[0].capacty_per_day: unknown key (did you mean 'capacity_per_day'?)",
    }


def test_unknown_lever_name_gets_hint():
    message = error_of(parse_scenario, {"levers": {"founder_endorsment": {"offset": 0.1}}}, "l.toml")
    assert message == "l.toml: levers.founder_endorsment: unknown key (did you mean 'founder_endorsement'?)"


def test_negative_capacity_message_format():
    message = error_of(load_scenario, DATA / "negative_capacity.toml")
    assert message == "negative_capacity.toml: plan.stores[3].capacity_per_day: must be > 0, got -5"


def test_mode_shares_must_sum_to_one():
    message = error_of(load_scenario, DATA / "mode_shares.toml")
    assert message.startswith("mode_shares.toml: population.mode_shares: ")
    assert "must sum to 1" in message and "1.1" in message


def test_store_with_two_positions_is_named():
    message = error_of(load_scenario, DATA / "two_positions.toml")
    assert message.startswith("two_positions.toml: plan.stores[1]: store 'double' has 2 positions (mall, lon/lat)")


def test_store_with_no_position_or_half_a_position():
    no_position = {"plan": {"stores": [{"id": "nowhere"}]}}
    assert "plan.stores[0]: store 'nowhere' has no position" in error_of(parse_scenario, no_position, "p.toml")
    half = {"plan": {"stores": [{"id": "half", "lon": 116.4}]}}
    assert (
        error_of(parse_scenario, half, "p.toml")
        == "p.toml: plan.stores[0].lat: store 'half': required when lon is given"
    )


def test_lon_lat_ranges():
    data = {"plan": {"stores": [{"id": "far", "lon": 200.0, "lat": -95}]}}
    message = error_of(parse_scenario, data, "r.toml")
    assert "r.toml: plan.stores[0].lon: must be <= 180, got 200" in message
    assert "r.toml: plan.stores[0].lat: must be >= -90, got -95" in message


def test_duplicate_store_ids_name_both_positions():
    message = error_of(load_scenario, DATA / "duplicate_ids.toml")
    assert message == "duplicate_ids.toml: plan.stores[2].id: duplicate store id 'a' (also plan.stores[0])"


def test_bad_toml_syntax_names_line_and_column():
    message = error_of(load_scenario, DATA / "bad_syntax.toml")
    assert message.startswith("bad_syntax.toml: invalid TOML at line 5, column 22: ")


def test_missing_file_and_folder(tmp_path):
    assert error_of(load_scenario, tmp_path / "nope.toml").startswith("nope.toml: file not found")
    assert "is a folder" in error_of(load_scenario, tmp_path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'seed = 1\nname = "caf\xe9"\n')
    assert error_of(load_scenario, path) == "latin.toml: not UTF-8 text (first bad byte at line 2, column 12)"


@pytest.mark.parametrize("data", [[1, 2], "text", 3, None])
def test_data_that_is_not_a_table(data):
    assert error_of(parse_scenario, data, "x.json").startswith("x.json: the scenario must be a table")


def test_wrong_types_are_not_coerced():
    data = {"seed": True, "replications": "3", "population": {"consumers": 5000.5}, "run": {"keep_store_days": 1}}
    problems = set(error_of(parse_scenario, data, "t.toml").split("; "))
    assert problems == {
        "t.toml: seed: must be an integer, got a boolean (True)",
        "t.toml: replications: must be an integer, got '3'",
        "t.toml: population.consumers: must be an integer, got 5000.5",
        "t.toml: run.keep_store_days: must be true or false, got 1",
    }


def test_literal_choice_hint():
    data = {"plan": {"stores": [{"id": "a", "mall": "M1", "format": "flagshp"}]}}
    message = error_of(parse_scenario, data, "c.toml")
    assert message.startswith("c.toml: plan.stores[0].format: must be one of 'mall', 'street'")
    assert message.endswith("got 'flagshp' (did you mean 'flagship'?)")


def test_lever_events_and_announcements_are_checked():
    data = {
        "levers": {
            "brand_promise": {"events": [{"kind": "shock", "day": 3, "size": -1.0}]},
            "supply_chain": {"events": [{"kind": "step", "day": 5, "size": 0.2, "half_life_days": 3}]},
            "sales_announcements": {
                "announcements": [{"day": 4, "cumulative_orders": 100}, {"day": 4, "cumulative_orders": 200}]
            },
        }
    }
    problems = set(error_of(parse_scenario, data, "e.toml").split("; "))
    assert problems == {
        "e.toml: levers.brand_promise.events[0].half_life_days: required for a shock",
        "e.toml: levers.supply_chain.events[0].half_life_days: applies to shocks only",
        "e.toml: levers.sales_announcements.announcements[1].day: must be > the previous announcement's day (4), got 4",
    }


def test_many_problems_are_counted_on_one_line():
    data = {f"unknown_{index}": index for index in range(MAX_PROBLEMS_SHOWN + 3)}
    message = error_of(parse_scenario, data, "m.toml")
    assert message.count("unknown key") == MAX_PROBLEMS_SHOWN
    assert message.endswith("(and 3 more)")


# --------------------------------------------------------------------------------------
# Stores files
# --------------------------------------------------------------------------------------


def test_stores_file_csv_is_merged_after_inline_stores():
    scenario = load_scenario(DATA / "with_stores_file.toml")
    assert [store.id for store in scenario.plan.stores] == ["inline-1", "csv-1", "csv-2", "csv-3"]
    csv1, csv2, csv3 = scenario.plan.stores[1:]
    assert (csv1.name, csv1.lon, csv1.lat, csv1.capacity_per_day) == ("CSV street store", 116.3, 39.95, 40)
    assert (csv2.format, csv2.open_day, csv2.capacity_per_day, csv2.attractiveness) == ("flagship", 30, 120, 2.0)
    assert (csv3.mall, csv3.format, csv3.capacity_per_day) == ("M002", "mall", 60)
    assert scenario.plan.stores_file == "stores.csv"
    # self-contained: the canonical JSON holds the file's stores and reads back without the file
    again = parse_canonical_json(canonical_json(scenario))
    assert again.plan.stores == scenario.plan.stores
    assert scenario_hash(again) == scenario_hash(scenario)


def test_stores_file_geojson_points_give_lon_lat():
    stores = load_scenario(DATA / "with_geojson.toml").plan.stores
    assert (stores[0].id, stores[0].lon, stores[0].lat, stores[0].format, stores[0].close_day) == (
        "geo-1",
        116.40,
        39.90,
        "popup",
        40,
    )
    assert stores[1].mall == "M003" and stores[1].lon is None


def test_stores_file_bad_row_names_file_row_and_column():
    message = error_of(load_scenario, DATA / "with_bad_stores_file.toml")
    assert message == "stores_bad.csv: row 4: capacity_per_day: must be > 0, got -3"


def test_stores_file_unknown_column_and_duplicate_id(tmp_path):
    write(tmp_path, "s.csv", "id,lon,lat,capcity_per_day\nx,116.3,39.9,4\n")
    write(tmp_path, "a.toml", 'plan.stores_file = "s.csv"\n')
    assert error_of(load_scenario, tmp_path / "a.toml") == (
        "s.csv: column 4 'capcity_per_day': unknown column (did you mean 'capacity_per_day'?)"
    )
    write(tmp_path, "d.csv", "id,station\ninline,Xidan\n")
    write(tmp_path, "b.toml", 'plan.stores_file = "d.csv"\n[[plan.stores]]\nid = "inline"\nmall = "M1"\n')
    assert error_of(load_scenario, tmp_path / "b.toml") == (
        "d.csv: row 2: id: duplicate store id 'inline' (also plan.stores[0] in b.toml)"
    )


def test_stores_file_missing_or_unsupported(tmp_path):
    write(tmp_path, "a.toml", 'plan.stores_file = "nothere.csv"\n')
    assert error_of(load_scenario, tmp_path / "a.toml").startswith("nothere.csv: stores file not found")
    write(tmp_path, "b.toml", 'plan.stores_file = "stores.xlsx"\n')
    assert "unsupported stores file type '.xlsx'" in error_of(load_scenario, tmp_path / "b.toml")


# --------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------


def test_overrides_parse_types_and_reach_list_items():
    scenario = load_scenario(DATA / "tiny_valid.toml")
    changed = apply_overrides(
        scenario,
        {
            "behaviour.hill_k": "4.5",
            "population.consumers": "5000",
            "plan.stores[0].capacity_per_day": "30",
            "levers.founder_endorsement.offset": "-0.2",
            "levers.expert_brand.enabled": "false",
            "horizon.start_date": "2024-04-01",
            "description": "just text",
            "seed": 11,
        },
    )
    assert changed.behaviour.hill_k == 4.5
    assert changed.population.consumers == 5000
    assert changed.plan.stores[0].capacity_per_day == 30
    assert changed.levers.founder_endorsement.offset == -0.2
    assert changed.levers.expert_brand.enabled is False
    assert changed.horizon.start_date == date(2024, 4, 1)
    assert changed.description == "just text" and changed.seed == 11
    assert scenario.population.consumers == 2000  # the original is untouched
    assert changed.base_dir == scenario.base_dir


def test_override_index_equal_to_length_appends_a_store():
    scenario = load_scenario(DATA / "tiny_valid.toml")
    changed = apply_overrides(scenario, {"plan.stores[2]": '{id = "new", station = "Xidan", format = "popup"}'})
    assert changed.plan.stores[2].id == "new" and changed.plan.stores[2].capacity_per_day == 20


def test_override_errors():
    scenario = load_scenario(DATA / "tiny_valid.toml")
    assert error_of(apply_overrides, scenario, {"behaviour.hil_k": "4"}) == (
        "--set: behaviour.hil_k: unknown key (did you mean 'hill_k'?)"
    )
    assert error_of(apply_overrides, scenario, {"behaviour.hill_k": "-1"}) == (
        "--set: behaviour.hill_k: must be > 0, got -1"
    )
    assert error_of(apply_overrides, scenario, {"plan.stores[0].capacity_per_day": "-5"}) == (
        "--set: plan.stores[0].capacity_per_day: must be > 0, got -5"
    )
    assert error_of(apply_overrides, scenario, {"plan.stores[7].id": "x"}).startswith(
        "--set: plan.stores[7]: index out of range"
    )
    assert "not a table" in error_of(apply_overrides, scenario, {"behaviour.hill_k.x": 1})
    assert "invalid key path" in error_of(apply_overrides, scenario, {"behaviour..hill_k": 1})
    assert "cannot be overridden" in error_of(apply_overrides, scenario, {"plan.stores_file": "x.csv"})
    assert error_of(apply_overrides, scenario, {"levers.hype": "1"}, source_name="sweep.toml").startswith(
        "sweep.toml: levers.hype: unknown key"
    )


@pytest.mark.parametrize(
    "text, value",
    [
        ("4", 4),
        ("0.5", 0.5),
        ("-2", -2),
        ("true", True),
        ("[1, 2]", [1, 2]),
        ("2024-04-01", date(2024, 4, 1)),
        ('"4"', "4"),
        ("beijing", "beijing"),
        ("../geo/x.gpkg", "../geo/x.gpkg"),
        ("1\nother = 2", "1\nother = 2"),
        ("", ""),
    ],
)
def test_parse_override_value(text, value):
    assert parse_override_value(text) == value


def test_parse_set_options():
    assert parse_set_options(["a.b=1", " c = x=y "]) == {"a.b": "1", "c": "x=y"}
    assert error_of(parse_set_options, ["behaviour.hill_k"]).startswith("--set: 'behaviour.hill_k': expected KEY=VALUE")
    assert "empty key" in error_of(parse_set_options, ["=3"])


# --------------------------------------------------------------------------------------
# Canonical form, hash, schema, docs
# --------------------------------------------------------------------------------------

ORDER_A = """
seed = 5
[population]
consumers = 3000
commuter_share = 0.5
[behaviour]
hill_k = 3
[[plan.stores]]
id = "a"
mall = "M1"
"""

ORDER_B = """
[behaviour]
hill_k = 3.0
[[plan.stores]]
mall = "M1"
id = "a"
[population]
commuter_share = 0.5
consumers = 3000
"""


def test_hash_stable_across_key_order_and_changed_by_values(tmp_path):
    first = load_scenario(write(tmp_path, "same.toml", ORDER_A))
    (tmp_path / "b").mkdir()  # same file name (the default name), another folder, other key order
    second = load_scenario(write(tmp_path / "b", "same.toml", "seed = 5\n" + ORDER_B))
    assert canonical_json(first) == canonical_json(second)
    assert scenario_hash(first) == scenario_hash(second)
    assert len(scenario_hash(first)) == 64 and short_hash(first) == scenario_hash(first)[:16]
    changed = apply_overrides(first, {"population.consumers": 3001})
    assert scenario_hash(changed) != scenario_hash(first)
    renamed_store = apply_overrides(first, {"plan.stores[0].id": "b"})
    assert scenario_hash(renamed_store) != scenario_hash(first)
    how = apply_overrides(first, {"run.workers": 4})  # how to run, not what is simulated
    assert scenario_hash(how) == scenario_hash(first) and canonical_json(how) != canonical_json(first)


def test_canonical_json_is_sorted_complete_and_round_trips():
    scenario = apply_overrides(
        load_scenario(DATA / "tiny_valid.toml"), {"levers.testimonials.source_half_life_days": "inf"}
    )
    text = canonical_json(scenario)
    payload = json.loads(text)
    assert list(payload) == sorted(payload)
    assert payload["behaviour"]["hill_s"] == 2.0  # defaults are filled in
    assert payload["horizon"]["start_date"] == "2024-03-28"
    assert payload["levers"]["testimonials"]["source_half_life_days"] == "inf"
    again = parse_canonical_json(text)
    assert canonical_json(again) == text
    assert math.isinf(again.levers.testimonials.source_half_life_days)


def test_json_schema_mentions_every_section():
    schema = scenario_json_schema()
    text = json.dumps(schema)  # plain JSON
    for section in ("city", "population", "plan", "behaviour", "levers", "horizon", "run"):
        assert section in schema["properties"]
    store = schema["$defs"]["Store"]
    assert store["additionalProperties"] is False
    assert set(store["properties"]) >= {"id", "mall", "station", "lon", "lat", "format", "capacity_per_day"}
    assert '"ge"' not in text and '"gt"' not in text  # standard JSON Schema keywords only


def test_committed_reference_is_up_to_date():
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == reference_markdown(), "run: python docs/generate_reference.py"


def test_reference_documents_every_key():
    markdown = reference_markdown()
    for key in (
        "population.mode_shares.subway",
        "plan.stores[].capacity_per_day",
        "levers.testimonials.source_half_life_days",
        "behaviour.sighting_probability.mall.walk",
        "levers.expert_brand.events[].half_life_days",
        "run.workers",
    ):
        assert f"`{key}`" in markdown
    assert "| `delivery_centre` | 0 | 0.5 | 100.0 |" in markdown


def test_scenario_is_frozen():
    scenario = load_scenario(DATA / "tiny_valid.toml")
    with pytest.raises(ValidationError):
        scenario.seed = 1
    with pytest.raises(ValidationError):
        scenario.plan.stores[0].capacity_per_day = 1
    assert isinstance(scenario.plan.stores, tuple)
    hash(scenario)  # frozen models are hashable


def test_describe_summarises_in_four_lines():
    text = describe(load_scenario(DATA / "tiny_valid.toml"))
    lines = text.splitlines()
    assert 3 <= len(lines) <= 5
    assert "beijing" in lines[0] and "2,000 consumers" in text
    assert "2 stores (1 mall, 1 street)" in text
    assert "120 days from 2024-03-28" in text and "2 replications" in text


# --------------------------------------------------------------------------------------
# Lever time courses
# --------------------------------------------------------------------------------------


def test_lever_event_and_offset_time_courses():
    shock = LeverEvent(kind="shock", day=10, size=-1.0, half_life_days=20.0)
    assert shock.effect(9) == 0.0 and shock.effect(10) == -1.0
    assert shock.effect(30) == pytest.approx(-0.5) and shock.effect(50) == pytest.approx(-0.25)
    step = LeverEvent(kind="step", day=5, size=0.3, end_day=8)
    assert [step.effect(day) for day in (4, 5, 7, 8)] == [0.0, 0.3, 0.3, 0.0]
    levers = Levers.model_validate({"founder_endorsement": {"offset": 0.25, "start_day": 2, "end_day": 4}})
    assert [levers.founder_endorsement.effect(day) for day in (1, 2, 3, 4)] == [0.0, 0.25, 0.25, 0.0]
    disabled = Levers.model_validate({"expert_brand": {"enabled": False}})
    assert disabled.expert_brand.effect(0) == 0.0


def test_sales_announcement_effect_formula():
    lever = SalesAnnouncementsLever.model_validate(
        {"announcements": [{"day": 1, "cumulative_orders": 50000}, {"day": 27, "cumulative_orders": 75723}]}
    )
    assert lever.effect(0) == 0.0
    assert lever.effect(1) == pytest.approx(0.18 * (1 - math.exp(-1)))
    assert lever.effect(26) == lever.effect(1)
    assert lever.effect(27) == pytest.approx(0.18 * (1 - math.exp(-75723 / 50000)))


# --------------------------------------------------------------------------------------
# Property tests: nothing but ScenarioError ever escapes
# --------------------------------------------------------------------------------------


def _all_field_names(model, seen=None) -> set[str]:
    from simulator.config.schema_base import is_model, unwrap_annotation

    seen = set() if seen is None else seen
    names = set()
    if model in seen:
        return names
    seen.add(model)
    for name, field in model.model_fields.items():
        names.add(name)
        inner, _, _ = unwrap_annotation(field.annotation)
        if is_model(inner):
            names |= _all_field_names(inner, seen)
    return names


KNOWN_KEYS = sorted(_all_field_names(Scenario))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(list(FORMATS) + ["shock", "step", "inf", "network", "full", "M001"])
    | st.dates()
    | st.datetimes()
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8) | st.integers(0, 3)
nested = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
scenario_like = st.dictionaries(
    st.sampled_from(["name", "seed", "city", "population", "plan", "behaviour", "levers", "horizon", "run", "x"]),
    st.dictionaries(st.sampled_from(KNOWN_KEYS), nested, max_size=6) | nested,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenario_like | nested)
def test_parse_scenario_raises_only_scenario_error(data):
    with tempfile.TemporaryDirectory() as folder:
        try:
            scenario = parse_scenario(data, "prop.toml", base_dir=folder)
        except ScenarioError as error:
            assert "\n" not in str(error)
            return
    assert scenario_hash(parse_canonical_json(canonical_json(scenario))) == scenario_hash(scenario)


toml_fragments = st.sampled_from(
    [
        "[population]",
        "[plan]",
        "[[plan.stores]]",
        "[levers.testimonials]",
        "consumers = 500",
        "id = 'a'",
        "mall = 'M1'",
        "lon = 116.4",
        "lat = 39.9",
        "capacity_per_day = -1",
        "seed = -3",
        "hill_k = inf",
        "source_half_life_days = inf",
        "x = [1, {a = 2}]",
        "= 3",
        "[behaviour]",
        "days = 0",
        "format = 'popup'",
        'stores_file = "missing.csv"',
        "start_date = 2024-02-30",
        "start_date = 1979-05-27T07:32:00Z",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200) | st.lists(toml_fragments, max_size=12).map("\n".join))
def test_load_scenario_on_arbitrary_text_raises_only_scenario_error(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "arbitrary.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_scenario(path)
        except ScenarioError as error:
            assert "\n" not in str(error)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    overrides=st.dictionaries(
        st.sampled_from(
            [
                "behaviour.hill_k",
                "population.consumers",
                "plan.stores[0].capacity_per_day",
                "plan.stores[1].lon",
                "levers.founder_endorsement.offset",
                "horizon.days",
                "plan.stores[2]",
                "levers.testimonials",
                "population.mode_shares.bus",
                "behaviour.sighting_probability.mall.walk",
            ]
        )
        | st.text(max_size=15),
        st.text(max_size=10) | scalars,
        max_size=4,
    )
)
def test_overrides_raise_only_scenario_error_and_results_round_trip(overrides):
    scenario = load_scenario(DATA / "tiny_valid.toml")
    try:
        changed = apply_overrides(scenario, overrides)
    except ScenarioError as error:
        assert "\n" not in str(error)
        return
    assert scenario_hash(parse_canonical_json(canonical_json(changed))) == scenario_hash(changed)
