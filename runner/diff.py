"""``mmar diff``'s report: what differs between two runs, how each turned out, then whether their weights agree.

Pure: two manifests in, lines out. The order is the reader's: first the causes a person chose
(resolved variables, ``--set`` values), then what the machine brought (library versions, data,
the other settings that can change numbers), then the outcome of each run side by side, and last
the tensor summary of :func:`runner.workflow.verify.compare`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runner.data.content_digest import DataDigest
from runner.workflow.verify import Comparison, Difference, compare, explain

ABSENT = "(absent)"
SHOWN_APART = ("versions", "datalist_digests", "data")  # listed in their own sections, not among the other settings
LABEL_WIDTH = 22
COLUMN_WIDTH = 26


def render_diff(first: Mapping[str, Any], second: Mapping[str, Any], first_data: DataDigest | None = None,
                second_data: DataDigest | None = None) -> tuple[Comparison, list[str]]:
    """The comparison of two manifests and the report's lines (the exit code follows ``comparison.identical``).

    ``first_data``/``second_data``: the runs' per-file data lists, so a data change names its files.
    """
    comparison = compare(first, second, first_data, second_data)
    lines = [*_mapping_section("variables", first.get("variables"), second.get("variables")),
             *_mapping_section("--set values", first.get("overrides"), second.get("overrides")),
             *_mapping_section("versions", first.get("versions"), second.get("versions")),
             *data_lines(first, second),
             *_data_content_lines(comparison),
             *_other_settings(comparison),
             *outcome_lines(first, second)]
    verdict = explain(comparison)
    if not comparison.identical and comparison.settings:
        verdict = verdict[:1]  # the settings that could explain it are listed above
    return comparison, [*lines, *verdict]


def _mapping_section(title: str, first: Any, second: Any) -> list[str]:
    """``title: the same (N)``, or each key whose value differs as ``name: a -> b``."""
    if not isinstance(first, Mapping) or not isinstance(second, Mapping):
        missing = [name for name, value in (("first", first), ("second", second)) if not isinstance(value, Mapping)]
        which = "either manifest" if len(missing) == 2 else f"the {missing[0]} manifest"
        return [f"{title}: not recorded in {which} (written by an older mmar-runner)"]
    differing = [Difference(str(key), first.get(key, ABSENT), second.get(key, ABSENT))
                 for key in sorted(set(first) | set(second)) if first.get(key, ABSENT) != second.get(key, ABSENT)]
    if not differing:
        return [f"{title}: the same ({len(first)})" if first else f"{title}: none"]
    return [f"{title} that differ:", *(f"  {difference.render()}" for difference in differing)]


def data_lines(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """The datalists each run read, by digest per section (training, validation, ...)."""
    a, b = first.get("datalist_digests") or {}, second.get("datalist_digests") or {}
    if a == b:
        return [f"data: the same datalists ({', '.join(sorted(a))})" if a else "data: no datalist recorded"]
    return ["data that differs (datalist digests):",
            *(f"  {Difference(key, a.get(key, ABSENT), b.get(key, ABSENT)).render()}"
              for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key))]


def _data_content_lines(comparison: Comparison) -> list[str]:
    """The data's own bytes (the manifest's ``data`` record): ``the data changed: N files, first PATH``."""
    return [difference.render() if difference.note else f"data that differs: {difference.render()}"
            for difference in comparison.settings if difference.field.startswith("data.")]


def _other_settings(comparison: Comparison) -> list[str]:
    others = [d for d in comparison.settings if not any(d.field == f or d.field.startswith(f + ".") for f in SHOWN_APART)]
    if not others:
        return []
    return ["other settings that differ and can change numbers:", *(f"  {difference.render()}" for difference in others)]


def outcome_lines(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """How each run ended, side by side: status, epochs, best key metric and its epoch, final loss, evaluation metrics, time."""
    rows = [("status", _text(first.get("status")), _text(second.get("status"))),
            ("epochs", _text(first.get("epochs_completed")), _text(second.get("epochs_completed"))),
            (_metric_label(first, second), _best(first), _best(second)),
            ("final loss", _number(first.get("final_loss")), _number(second.get("final_loss"))),
            *_evaluation_rows(first.get("metrics"), second.get("metrics")),
            ("time", _seconds(first.get("duration_s")), _seconds(second.get("duration_s")))]
    header = f"{'outcome:':<{LABEL_WIDTH + 2}}{'first':<{COLUMN_WIDTH}}second"
    return [header, *(f"  {label:<{LABEL_WIDTH}}{a:<{COLUMN_WIDTH}}{b}".rstrip() for label, a, b in rows)]


def _evaluation_rows(first: Any, second: Any) -> list[tuple[str, str, str]]:
    """The metrics of ``mmar validate`` runs (their manifests' ``metrics``), one row per name."""
    a = first if isinstance(first, Mapping) else {}
    b = second if isinstance(second, Mapping) else {}
    return [(str(name), _number(a.get(name)), _number(b.get(name))) for name in sorted(set(a) | set(b))]


def _metric_label(first: Mapping[str, Any], second: Mapping[str, Any]) -> str:
    names = {(m.get("name") or "key metric") for m in (first.get("key_metric"), second.get("key_metric")) if isinstance(m, Mapping)}
    return f"best {' / '.join(sorted(names)) or 'key metric'}"


def _best(manifest: Mapping[str, Any]) -> str:
    metric = manifest.get("key_metric")
    if not isinstance(metric, Mapping) or metric.get("best") is None:
        return "n/a"
    epoch = f" @ epoch {metric['best_epoch']}" if metric.get("best_epoch") is not None else ""
    return f"{_number(metric['best'])}{epoch}"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def _seconds(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def _text(value: Any) -> str:
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else json.dumps(value)
