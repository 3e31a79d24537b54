"""The latest metrics of many runs at once, kept in the ledger's metric cache.

A sweep ranks its runs by their latest values: those its handles already hold, the rest
fetched with one search per job (:func:`jobmagic.domain.metrics.refresh_handles`, which
also reads an ended run's whole histories). What is learnt goes to the ledger's metric
cache (:meth:`jobmagic.ledger.Ledger.set_metrics`: each handle a session makes writes its
own values when they change), so :func:`jobmagic.sweeps` and a loaded sweep's board rank
runs without asking the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobmagic.domain.metrics import MetricHolder, refresh_handles
from jobmagic.models.metrics import RunKey

if TYPE_CHECKING:
    from jobmagic.ledger import Ledger

__all__ = ["latest_values", "seed_from_cache"]


def latest_values(handles: Sequence[MetricHolder]) -> list[dict[str, float]]:
    """Each handle's latest metric values, in order: fetched for the handles whose run has
    not given its final ones yet (one search per application); what changed goes to the
    ledger's cache through the handles (:meth:`JobSession.handle_for` sees to that)."""
    missing: dict[str, list[MetricHolder]] = {}
    for handle in handles:
        state = handle.metric_state
        if handle.application_id and not state.complete:
            state.wanted = True
            missing.setdefault(handle.application_id, []).append(handle)
    for app_id, group in missing.items():
        refresh_handles(group[0].client, app_id, group, [h.run for h in group])
    return [handle.metric_state.snapshot()[0] for handle in handles]


def seed_from_cache(ledger: Ledger, handles: Sequence[MetricHolder]) -> int:
    """Give the handles that know no metrics yet their cached values (no request): a loaded
    sweep's board and ranking show them at once. Returns how many handles were given some."""
    keys: list[RunKey] = [(h.application_id or "", h.name) for h in handles]
    cached = ledger.latest_metrics(keys)
    seeded = 0
    for handle, key in zip(handles, keys, strict=True):
        found = cached.get(key)
        if found and not handle.metric_state.fetched:
            handle.metric_state.take(found, notify=False)
            seeded += 1
    return seeded
