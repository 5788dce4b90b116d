"""The UPS state table (PS3.4 Table CC.1.1-2): every state and request, with its code."""

from __future__ import annotations

import pytest

from azure_dicom_emulator.dicom.ups_states import ProcedureStepState, Transition, cancel_request, change_state

SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED = (
    ProcedureStepState.SCHEDULED,
    ProcedureStepState.IN_PROGRESS,
    ProcedureStepState.COMPLETED,
    ProcedureStepState.CANCELED,
)
OWNER, STRANGER = "1.2.3", "1.2.4"


@pytest.mark.parametrize(
    ("current", "owner", "target", "transaction", "expected"),
    [
        (SCHEDULED, None, IN_PROGRESS, OWNER, Transition(state=IN_PROGRESS)),
        (SCHEDULED, None, COMPLETED, OWNER, Transition(code="C310")),
        (SCHEDULED, None, CANCELED, OWNER, Transition(code="C310")),
        (SCHEDULED, None, SCHEDULED, OWNER, Transition(code="C303")),
        (IN_PROGRESS, OWNER, IN_PROGRESS, OWNER, Transition(code="C302")),
        (IN_PROGRESS, OWNER, IN_PROGRESS, STRANGER, Transition(code="C302")),
        (IN_PROGRESS, OWNER, COMPLETED, OWNER, Transition(state=COMPLETED)),
        (IN_PROGRESS, OWNER, CANCELED, OWNER, Transition(state=CANCELED)),
        (IN_PROGRESS, OWNER, COMPLETED, STRANGER, Transition(code="C301")),
        (IN_PROGRESS, OWNER, CANCELED, STRANGER, Transition(code="C301")),
        (IN_PROGRESS, OWNER, SCHEDULED, OWNER, Transition(code="C303")),
        (COMPLETED, OWNER, COMPLETED, OWNER, Transition(code="B306")),
        (COMPLETED, OWNER, COMPLETED, STRANGER, Transition(code="C300")),
        (COMPLETED, OWNER, CANCELED, OWNER, Transition(code="C300")),
        (COMPLETED, OWNER, IN_PROGRESS, OWNER, Transition(code="C300")),
        (CANCELED, OWNER, CANCELED, OWNER, Transition(code="B304")),
        (CANCELED, None, CANCELED, OWNER, Transition(code="C300")),
        (CANCELED, OWNER, COMPLETED, OWNER, Transition(code="C300")),
    ],
)
def test_change_state_follows_the_state_table(current, owner, target, transaction, expected):
    outcome = change_state(current, owner, target, transaction)
    assert outcome == expected
    assert outcome.is_warning == (expected.code or "").startswith("B")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (SCHEDULED, Transition(state=CANCELED)),
        (IN_PROGRESS, Transition(code="C312")),
        (COMPLETED, Transition(code="C311")),
        (CANCELED, Transition(code="B304")),
    ],
)
def test_a_cancel_request_cancels_only_a_scheduled_workitem(current, expected):
    assert cancel_request(current) == expected
