"""The UPS attribute requirements: N-CREATE and N-SET (PS3.4 Table CC.2.5-3) and the final states."""

from __future__ import annotations

from datetime import UTC, datetime

from pydicom.dataset import Dataset

from azure_dicom_emulator.dicom.ups_dataset import prepare_new, with_state
from azure_dicom_emulator.dicom.ups_requirements import create_problem, final_state_problem, update_problem
from azure_dicom_emulator.dicom.ups_states import ProcedureStepState
from harness.workitems import cancellation, completion, workitem

NOW = datetime(2024, 1, 2, 10, 30, tzinfo=UTC)


def new_workitem(**attributes) -> Dataset:
    ds = workitem(**attributes)
    prepare_new(ds, "1.2.3", NOW)
    return ds


def test_a_complete_dataset_meets_the_n_create_requirements_once_the_service_sets_its_values():
    ds = workitem()
    assert create_problem(ds) == "The required tag '(0008,0016)' is missing."
    prepare_new(ds, "1.2.3", NOW)
    assert create_problem(ds) is None
    assert ds.ScheduledProcedureStepModificationDateTime == "20240102103000.000000"
    assert ds.WorklistLabel == "worklist"


def test_type_1c_and_3_attributes_are_optional_and_performer_items_need_their_attributes():
    assert create_problem(new_workitem(ExpectedCompletionDateTime="20240103")) is None
    performer = Dataset()
    performer.HumanPerformerName = "Doe^Jane"
    problem = create_problem(new_workitem(ScheduledHumanPerformersSequence=[performer]))
    assert problem == "The required tag '(0040,4009)' is missing."


def test_an_update_may_not_carry_the_state_or_the_patient():
    state = Dataset()
    state.ProcedureStepState = "COMPLETED"
    assert update_problem(state).startswith("Procedure step state is present")
    patient = Dataset()
    patient.PatientBirthDate = "20000101"
    assert update_problem(patient) == "The attribute with tag '(0010,0030)' cannot be present."
    label = Dataset()
    label.ProcedureStepLabel = "New label"
    assert update_problem(label) is None


def test_completed_needs_the_performed_procedure_and_its_actual_performers_details():
    ds = with_state(new_workitem(), ProcedureStepState.COMPLETED, NOW)
    assert final_state_problem(ds, ProcedureStepState.COMPLETED) == "The value for tag '(0074,1216)' is missing."
    ds.update(completion())
    assert final_state_problem(ds, ProcedureStepState.COMPLETED) is None
    performer = Dataset()
    performer.HumanPerformerName = "Doe^Jane"
    ds.UnifiedProcedureStepPerformedProcedureSequence[0].ActualHumanPerformersSequence = [performer]
    assert final_state_problem(ds, ProcedureStepState.COMPLETED) == "The required tag '(0040,4009)' is missing."


def test_canceled_needs_the_cancellation_time_and_reason():
    ds = with_state(new_workitem(), ProcedureStepState.CANCELED, NOW)
    progress = cancellation()
    del progress.ProcedureStepProgressInformationSequence[0].ProcedureStepCancellationDateTime
    ds.update(progress)
    assert final_state_problem(ds, ProcedureStepState.CANCELED) == "The required tag '(0040,4052)' is missing."
    ds.update(cancellation())
    assert final_state_problem(ds, ProcedureStepState.CANCELED) is None
