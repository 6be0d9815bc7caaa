"""Reading a comparison: one comparison file, or two or more scenario files.

The plans' scenarios must agree in everything but plan and levers
(:data:`~simulator.experiments.compare.spec.AGREEMENT_EXEMPT_KEYS`);
:func:`check_agreement` names the first key path where they differ.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.config import (
    Levers,
    Scenario,
    apply_overrides,
    canonical_json,
    file_path_problem,
    format_key_path,
    parse_scenario,
    plain_value,
    problem_lines,
    raise_problems,
    read_stores_file,
    read_toml_file,
    show_value,
)
from simulator.experiments.compare.spec import (
    AGREEMENT_EXEMPT_KEYS,
    ComparisonFile,
    ComparisonPlan,
    ComparisonSpec,
    PlanSpec,
    is_comparison_data,
    plan_slug,
)
from simulator.experiments.options import RunOptions, prepare_scenario


def _deep_merge(base: Any, changes: Any) -> Any:
    """``changes`` merged into ``base``: tables key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(changes, Mapping):
        merged = dict(base)
        for key, value in changes.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return plain_value(changes) if isinstance(changes, (dict, list, tuple)) else changes


def _file_stores(entry: ComparisonPlan, folder: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Validated stores of a plan's ``stores_file`` as (origin label, store dict) pairs."""
    assert entry.stores_file is not None
    validated, problems = read_stores_file(entry.stores_file, folder, entry.stores_file_crs)
    return [(f"{entry.stores_file} {row_label}", store.model_dump()) for row_label, store in validated], problems


def _plan_scenario(
    entry: ComparisonPlan, position: int, base: Scenario, comparison: ComparisonFile, source: str, folder: Path
) -> Scenario:
    """The full scenario of one plan of a comparison file: the base with the plan's stores and levers."""
    where = f"plans[{position}]"
    base_data = plain_value(base.model_dump(mode="python"))
    labelled: list[tuple[str, dict[str, Any]]] = []
    if entry.use_base_plan:
        labelled += [(f"the base plan ({store['id']})", store) for store in base_data["plan"]["stores"]]
    if entry.stores is not None:
        labelled += [(f"{where}.stores[{i}]", store.model_dump()) for i, store in enumerate(entry.stores)]
    problems: list[str] = []
    if entry.stores_file is not None and not entry.stores_file.strip():
        problems.append(f"{source}: {where}.stores_file: the file name is blank")
    elif entry.stores_file is not None:
        from_file, file_problems = _file_stores(entry, folder)
        labelled += from_file
        problems += [f"{source}: {where}.stores_file: {problem}" for problem in file_problems]
    first_seen: dict[str, str] = {}
    for label, store in labelled:
        if store["id"] in first_seen:
            problems.append(
                f"{source}: {where}: duplicate store id '{store['id']}' ({label}; also {first_seen[store['id']]})"
            )
        else:
            first_seen[store["id"]] = label
    levers = base_data["levers"]
    if entry.levers is not None:
        levers = _deep_merge(levers, entry.levers)
        try:
            Levers.model_validate(levers)
        except ValidationError as exception:
            problems += problem_lines(exception, source, Levers, prefix=f"{where}.levers.")
    if problems:
        raise_problems(problems)
    stores_file = entry.stores_file or (base.plan.stores_file if entry.use_base_plan else None)
    data = {
        **base_data,
        "name": entry.name,
        "description": entry.description or base.description,
        "plan": {"name": entry.name, "stores": [store for _label, store in labelled], "stores_file": stores_file},
        "levers": levers,
    }
    if comparison.seed is not None:
        data["seed"] = comparison.seed
    if comparison.replications is not None:
        data["replications"] = comparison.replications
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source, Scenario, prefix=f"{where}: "))
    scenario._base_dir = base.base_dir
    return scenario


def _load_comparison_file(path: Path, data: Mapping[str, Any]) -> tuple[ComparisonFile, list[PlanSpec]]:
    source = path.name or str(path)
    data = dict(data)
    data.setdefault("name", path.stem or "comparison")
    try:
        comparison = ComparisonFile.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source, ComparisonFile))
    folder = path.parent.absolute()
    base_path = Path(comparison.base).expanduser()
    if not base_path.is_absolute():
        base_path = folder / base_path
    problem = file_path_problem(base_path)
    if problem is not None:
        raise_problems([f"{source}: base: scenario {problem}"])
    base_data = read_toml_file(base_path)
    if is_comparison_data(base_data):
        raise_problems([f"{source}: base: {base_path.name} is a comparison file, not a scenario"])
    base = parse_scenario(base_data, base_path.name, base_dir=base_path.parent.absolute())
    plans = [
        PlanSpec(
            name=entry.name,
            slug=plan_slug(entry.name),
            scenario=_plan_scenario(entry, position, base, comparison, source, folder),
            source=f"{source} plans[{position}]",
        )
        for position, entry in enumerate(comparison.plans)
    ]
    return comparison, plans


def _plans_from_scenario_files(paths: Sequence[Path]) -> list[PlanSpec]:
    scenarios = []
    for path in paths:
        data = read_toml_file(path)
        source = path.name or str(path)
        if is_comparison_data(data):
            raise_problems([f"{source}: is a comparison file: give it alone, or give two or more scenario files"])
        scenarios.append((source, parse_scenario(data, source, base_dir=path.parent.absolute())))
    plan_names = [scenario.plan.name for _source, scenario in scenarios]
    use_plan_names = len(set(plan_names)) == len(plan_names) and "plan" not in plan_names
    plans: list[PlanSpec] = []
    seen: dict[str, str] = {}
    for source, scenario in scenarios:
        name = scenario.plan.name if use_plan_names else scenario.name
        slug = plan_slug(name)
        if slug in seen:
            raise_problems(
                [
                    f"{source}: plan '{name}' has the same name (folder '{slug}') as the plan of {seen[slug]}; "
                    "give the scenarios different names or plan.name"
                ]
            )
        seen[slug] = source
        plans.append(PlanSpec(name=name, slug=slug, scenario=scenario, source=source))
    return plans


def _comparable(scenario: Scenario) -> dict[str, Any]:
    """The scenario's canonical data without the keys plans may differ in, bundle resolved."""
    data = json.loads(canonical_json(scenario))
    for key in AGREEMENT_EXEMPT_KEYS:
        data.pop(key, None)
    bundle = scenario.resolved_bundle
    data["city"]["bundle"] = str(Path(bundle).absolute()) if isinstance(bundle, Path) else bundle
    return data


def first_difference(first: Any, second: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], Any, Any] | None:
    """The first key path (sorted keys, depth first) where two JSON-like values differ.

    Returns
    -------
    tuple or None
        ``(path, value in first, value in second)``, or None when they are equal.
    """
    if isinstance(first, dict) and isinstance(second, dict):
        for key in sorted(set(first) | set(second)):
            if key not in first or key not in second:
                return path + (key,), first.get(key, "(not set)"), second.get(key, "(not set)")
            found = first_difference(first[key], second[key], path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(first, list) and isinstance(second, list):
        if len(first) != len(second):
            return path, f"{len(first)} items", f"{len(second)} items"
        for index, (a, b) in enumerate(zip(first, second)):
            found = first_difference(a, b, path + (index,))
            if found is not None:
                return found
        return None
    return None if first == second else (path, first, second)


def check_agreement(plans: Sequence[PlanSpec]) -> None:
    """Refuse plans whose scenarios differ in anything but plan and levers.

    The canonical scenarios are compared with the keys of :data:`AGREEMENT_EXEMPT_KEYS`
    removed and ``city.bundle`` resolved to a path.

    Raises
    ------
    ScenarioError
        Naming the plan's file, the first differing key path and both values.
    """
    baseline = plans[0]
    reference = _comparable(baseline.scenario)
    for plan in plans[1:]:
        found = first_difference(reference, _comparable(plan.scenario))
        if found is not None:
            path, expected, got = found
            raise_problems(
                [
                    f"{plan.source}: {format_key_path(path)}: differs from the baseline {baseline.source} "
                    f"({show_value(got)} vs {show_value(expected)}); the plans of a comparison may differ only in plan and levers"
                ]
            )


def load_comparison(
    files: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    consumers: int | str | None = None,
    days: int | None = None,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ComparisonSpec:
    """Read a comparison: one comparison file, or two or more scenario files.

    Parameters
    ----------
    files : path or sequence of paths
        One comparison file (TOML with ``base`` and ``[[plans]]``), or two or more
        scenario files that differ only in ``plan`` and ``levers``.
    consumers, days, seed, replications : int, optional
        Overrides applied to every plan (``population.consumers``, ``horizon.days``,
        the root seed, the number of replications).
    overrides : mapping, optional
        Further overrides by dotted key path, applied to every plan's scenario.

    Returns
    -------
    ComparisonSpec

    Raises
    ------
    ScenarioError
        A file is invalid, a single scenario file is given, or the plans' scenarios
        differ in anything but plan and levers (the message names the key path).
    """
    return comparison_from_files(files, RunOptions(consumers, days, seed, replications, dict(overrides or {})))


def comparison_from_files(
    files: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], options: RunOptions | None = None
) -> ComparisonSpec:
    """:func:`load_comparison` with the changes to every plan given as one :class:`RunOptions`."""
    paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(f) for f in files]
    comparison, plans = _read_plans(paths)
    prepared = [dataclasses.replace(plan, scenario=prepare_scenario(plan.scenario, options)) for plan in plans]
    check_agreement(prepared)
    baseline = prepared[0].scenario
    common = {"replications": baseline.replications, "run": baseline.run.model_dump()}
    prepared = [dataclasses.replace(p, scenario=apply_overrides(p.scenario, common)) for p in prepared]
    if comparison is not None:
        name, description = comparison.name, comparison.description
    else:
        name = "-vs-".join(plan_slug(p.scenario.name) for p in prepared)
        name = name if len(name) <= 60 else name[:60].rstrip("-")
        description = f"Scenarios {', '.join(p.source for p in prepared)} compared"
    return ComparisonSpec(
        name=name,
        description=description,
        plans=tuple(prepared),
        seed=int(baseline.seed),
        replications=int(baseline.replications),
        sources=tuple(str(p) for p in paths),
        mode="comparison_file" if comparison is not None else "scenario_files",
    )


def _read_plans(paths: Sequence[Path]) -> tuple[ComparisonFile | None, list[PlanSpec]]:
    """The plans of one comparison file (with the file), or of two or more scenario files."""
    if not paths:
        raise_problems(["compare: give one comparison file or two or more scenario files"])
    if len(paths) > 1:
        return None, _plans_from_scenario_files(paths)
    data = read_toml_file(paths[0])
    source = paths[0].name or str(paths[0])
    if not is_comparison_data(data):
        raise_problems(
            [
                f"{source}: is a scenario file, and one plan cannot be compared: give two or more scenario "
                "files, or a comparison file (a base scenario and its plans)"
            ]
        )
    return _load_comparison_file(paths[0], data)
