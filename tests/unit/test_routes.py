"""The route table: every versioned route declares the data action a caller's roles must grant."""

from __future__ import annotations

import importlib
import inspect

import pytest
from starlette.routing import Route

from azure_dicom_emulator.api import routes as route_table
from azure_dicom_emulator.features.auth import DataAction


def test_every_versioned_route_is_guarded_by_its_declared_data_action():
    versioned = [route for route in route_table.routes() if route.path.startswith("/{version}/")]
    assert len(versioned) == 2 * len(route_table.PARTITIONED) + len(route_table.UNPARTITIONED)
    for route in versioned:
        assert isinstance(route, Route)
        assert isinstance(getattr(route.endpoint, "data_action", None), DataAction), route.path


def test_only_the_health_check_and_the_emulator_routes_are_anonymous():
    anonymous = [route.path for route in route_table.routes() if not hasattr(route.endpoint, "data_action")]
    assert anonymous and all(path == "/health/check" or path.startswith("/emulator/") for path in anonymous)


def test_the_data_action_of_each_kind_of_route():
    actions = {(path, tuple(methods)): action for path, _, methods, action in route_table.PARTITIONED}
    actions |= {(path, tuple(methods)): action for path, _, methods, action in route_table.UNPARTITIONED}
    assert actions[("studies", ("POST", "PUT"))] is DataAction.WRITE
    assert actions[(route_table.STUDY, ("DELETE",))] is DataAction.DELETE
    assert actions[("studies", ("GET",))] is DataAction.READ
    assert actions[("extendedquerytags", ("POST",))] is DataAction.MANAGE_EXTENDED_QUERY_TAGS
    assert actions[("extendedquerytags/{tag}", ("PATCH",))] is DataAction.MANAGE_EXTENDED_QUERY_TAGS
    assert actions[("extendedquerytags/{tag}", ("GET",))] is DataAction.READ
    assert actions[("changefeed", ("GET",))] is DataAction.READ


@pytest.mark.parametrize("table", ["PARTITIONED", "UNPARTITIONED"])
@pytest.mark.parametrize("entry", [("workitems", object(), ["POST"]), ("export", object(), ["POST"], "export")])
def test_a_route_without_a_declared_data_action_stops_the_start_up(monkeypatch, table, entry):
    monkeypatch.setattr(route_table, table, [*getattr(route_table, table), entry])
    with pytest.raises(ValueError, match=f"the route '{entry[0]}' declares no data action"):
        route_table.routes()


def test_every_endpoint_the_table_names_for_later_import_is_an_async_function_of_the_api():
    named = [route.endpoint.target for route in route_table.routes() if hasattr(route.endpoint, "target")]
    assert len(named) > len(route_table.PARTITIONED)
    for target in named:
        module_name, _, name = target.partition(":")
        assert module_name.startswith("azure_dicom_emulator.api."), target
        assert inspect.iscoroutinefunction(getattr(importlib.import_module(module_name), name)), target
