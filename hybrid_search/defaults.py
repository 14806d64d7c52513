"""A collection's saved search defaults (`hybrid-search tune --save`) applied to one request.

Precedence: what the request sets, then the collection's saved defaults, then the built-in
defaults. The saved fusion settings (fusion, weights, rrf_k) are one unit: they were tuned
together on one set of routes, so they apply only when the request sets none of them and
searches exactly those routes; the saved routes apply when the request names none.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from hybrid_search.errors import ConfigError
from schemas.api import SearchOptions

__all__ = ["FUSION_FIELDS", "SAVED_FIELDS", "apply_saved_defaults", "check_saved_defaults"]

#: the options `tune --save` records
SAVED_FIELDS = ("routes", "fusion", "weights", "rrf_k")
#: the ones that only make sense together
FUSION_FIELDS = ("fusion", "weights", "rrf_k")


def check_saved_defaults(saved: Mapping[str, Any]) -> dict[str, Any]:
    """Saved defaults as valid SearchOptions values.

    Raises:
        ConfigError: an unknown field or an invalid value (naming it).
    """
    unknown = sorted(set(saved) - set(SAVED_FIELDS))
    if unknown:
        raise ConfigError(
            f"search defaults: unknown field(s) {unknown}; a collection may save "
            f"{', '.join(SAVED_FIELDS)}",
            details={"fields": unknown},
        )
    try:
        opts = SearchOptions.model_validate(dict(saved))
    except ValueError as exc:
        raise ConfigError(f"search defaults are invalid: {exc}") from None
    return opts.model_dump(include=set(saved), exclude_none=True)


def apply_saved_defaults(
    opts: SearchOptions,
    fields_set: Collection[str],
    saved: Mapping[str, Any],
    available: Sequence[str],
) -> tuple[SearchOptions, dict[str, Any]]:
    """`opts` (built-in defaults filled in) with the `saved` defaults the request left open
    (`fields_set`: what it set itself) that fit the `available` routes, and {field: value}
    of what was applied."""
    if not saved:
        return opts, {}
    applied: dict[str, Any] = {}
    saved_routes = saved.get("routes")
    if saved_routes and "routes" not in fields_set and set(saved_routes) <= set(available):
        applied["routes"] = list(saved_routes)
    routes = applied.get("routes", opts.routes if opts.routes is not None else list(available))
    same_routes = saved_routes is None or set(routes) == set(saved_routes)
    if same_routes and not set(FUSION_FIELDS) & set(fields_set):
        applied.update({f: saved[f] for f in FUSION_FIELDS if saved.get(f) is not None})
    if not applied:
        return opts, {}
    return opts.model_copy(update=applied), applied
