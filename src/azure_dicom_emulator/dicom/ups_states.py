"""The Unified Procedure Step state machine (PS3.4 Annex CC.1.1, Table CC.1.1-2), as pure rules.

A workitem is SCHEDULED when created; a performer claims it by moving it to IN PROGRESS with a
transaction UID of its own, and only that UID can move it on to COMPLETED or CANCELED, the final
states. A SCHEDULED workitem can also be canceled by request, with no transaction UID at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FINAL_STATES", "TARGET_STATES", "ProcedureStepState", "Transition", "cancel_request", "change_state"]


class ProcedureStepState(StrEnum):
    """The values of Procedure Step State (0074,1000)."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"


FINAL_STATES = frozenset({ProcedureStepState.COMPLETED, ProcedureStepState.CANCELED})
TARGET_STATES = (ProcedureStepState.IN_PROGRESS, ProcedureStepState.COMPLETED, ProcedureStepState.CANCELED)
"""The states a change-state request may ask for, in the order the service lists them."""


@dataclass(frozen=True)
class Transition:
    """What a request does to a workitem: the state it moves to, or the status code refusing or warning.

    ``state`` is set when the workitem moves; ``code`` is a failure code (``C3xx``) when it is
    refused, or a warning code (``B3xx``) when it already is where the request would take it.
    """

    state: ProcedureStepState | None = None
    code: str | None = None

    @property
    def is_warning(self) -> bool:
        """Whether the request changes nothing and succeeds with a warning."""
        return self.state is None and self.code is not None and self.code.startswith("B")


def change_state(
    current: ProcedureStepState, owner: str | None, target: ProcedureStepState, transaction_uid: str
) -> Transition:
    """The outcome of asking a workitem in ``current``, claimed by ``owner`` (or None), to move to ``target``."""
    if current in FINAL_STATES:
        if target == current and owner is not None and transaction_uid == owner:
            return Transition(code="B306" if current == ProcedureStepState.COMPLETED else "B304")
        return Transition(code="C300")
    if target == ProcedureStepState.SCHEDULED:
        return Transition(code="C303")
    if current == ProcedureStepState.SCHEDULED:
        if target == ProcedureStepState.IN_PROGRESS:
            return Transition(state=target)
        return Transition(code="C310")
    if target == ProcedureStepState.IN_PROGRESS:
        return Transition(code="C302")
    if transaction_uid != owner:
        return Transition(code="C301")
    return Transition(state=target)


def cancel_request(current: ProcedureStepState) -> Transition:
    """The outcome of a request to cancel a workitem in ``current``: only a SCHEDULED one is canceled outright.

    An IN PROGRESS workitem would need its performer to agree (C312); a COMPLETED one is past
    canceling (C311); a CANCELED one already is (B304).
    """
    if current == ProcedureStepState.SCHEDULED:
        return Transition(state=ProcedureStepState.CANCELED)
    if current == ProcedureStepState.IN_PROGRESS:
        return Transition(code="C312")
    if current == ProcedureStepState.COMPLETED:
        return Transition(code="C311")
    return Transition(code="B304")
