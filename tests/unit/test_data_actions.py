"""Which data actions the values of a token's roles claim grant."""

from __future__ import annotations

import pytest

from azure_dicom_emulator.features.auth.data_actions import ALL_ACTIONS, DataAction, granted_actions

OWNER_VALUES = ["DicomDataOwner", "58a3b984-7adf-4c20-983a-32417c86fbc8", "globalAdmin"]
READER_VALUES = ["DicomDataReader", "e89c7a3c-2f64-4fa1-a847-3e4c9ba4283a", "globalReader"]


@pytest.mark.parametrize("role", OWNER_VALUES)
def test_the_owner_role_its_guid_and_global_admin_grant_every_action(role):
    assert granted_actions([role]) == ALL_ACTIONS
    assert {action.value for action in ALL_ACTIONS} == {"read", "write", "delete", "manageExtendedQueryTags", "export"}


@pytest.mark.parametrize("role", READER_VALUES)
def test_the_reader_role_its_guid_and_global_reader_grant_read_only(role):
    assert granted_actions([role]) == {DataAction.READ}


@pytest.mark.parametrize("roles", [[], ["dicomdataowner"], ["Owner"], [1, None, ["DicomDataOwner"]]])
def test_unknown_or_malformed_role_values_grant_nothing(roles):
    assert granted_actions(roles) == frozenset()


def test_roles_add_up():
    assert granted_actions(["DicomDataReader", "DicomDataOwner"]) == ALL_ACTIONS
