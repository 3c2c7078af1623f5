"""Run an expensive step once per study, whichever of the processes sharing its storage gets there first.

The TE-NAS pruning run of the prune sampler takes minutes; several workers
that start together on a new study should not each repeat it. The first one
writes a claim (a study system attribute) and keeps it fresh from a
heartbeat thread while it computes; the others poll until the result is
stored. A claim whose heartbeat is older than ``stale_after`` seconds (its
process died) is taken over, so no worker waits forever.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import optuna

logger = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
STALE_AFTER_S = 90.0
POLL_S = 1.0


def _owner(tag: object) -> str:
    # Per process and per object: a sampler copied into another process gets another owner.
    return f"{socket.gethostname()}:{os.getpid()}:{id(tag):x}"


def _is_live(claim: object, now: float, stale_after: float) -> bool:
    return isinstance(claim, Mapping) and bool(claim.get("owner")) and now - float(claim.get("beat", 0.0)) <= stale_after


def run_once(
    study: optuna.Study,
    attr: str,
    compute: Callable[[], dict[str, Any]],
    is_result: Callable[[object], bool],
    *,
    tag: object = None,
    stale_after: float = STALE_AFTER_S,
    heartbeat: float = HEARTBEAT_S,
    poll: float = POLL_S,
) -> dict[str, Any]:
    """The result stored under ``attr`` in ``study``, computed here if no live process is computing it.

    ``compute`` returns a JSON-serialisable dict (stored under ``attr``); if it
    raises, the claim is released and the exception propagates.
    """
    storage, sid = study._storage, study._study_id
    claim_attr = f"{attr}:claim"
    me = _owner(tag)
    waited = False
    while True:
        attrs = storage.get_study_system_attrs(sid)
        if is_result(attrs.get(attr)):
            return dict(attrs[attr])
        claim = attrs.get(claim_attr)
        if not _is_live(claim, time.time(), stale_after) or claim.get("owner") == me:
            storage.set_study_system_attr(sid, claim_attr, {"owner": me, "beat": time.time()})
            # Of two near-simultaneous claims the later write wins; both re-read after a pause.
            time.sleep(random.uniform(0.05, 0.25))
            claim = storage.get_study_system_attrs(sid).get(claim_attr)
            if isinstance(claim, Mapping) and claim.get("owner") == me:
                return _compute_claimed(study, attr, claim_attr, me, compute, heartbeat)
        if not waited:
            owner = claim.get("owner") if isinstance(claim, Mapping) else None
            logger.info("waiting for %s, which %s is computing", attr, owner or "another process")
            waited = True
        time.sleep(poll)


def _compute_claimed(
    study: optuna.Study, attr: str, claim_attr: str, me: str, compute: Callable[[], dict[str, Any]], heartbeat: float
) -> dict[str, Any]:
    storage, sid = study._storage, study._study_id
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat):
            storage.set_study_system_attr(sid, claim_attr, {"owner": me, "beat": time.time()})

    thread = threading.Thread(target=beat, name="tenas-claim-heartbeat", daemon=True)
    thread.start()
    try:
        result = compute()
    except BaseException:
        stop.set()
        thread.join()
        storage.set_study_system_attr(sid, claim_attr, {"owner": None, "beat": 0.0})  # released
        raise
    stop.set()
    thread.join()
    storage.set_study_system_attr(sid, attr, result)
    return result
