"""Sink configuration: what is accepted, and that a malformed one is refused naming the field."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from azure_dicom_emulator.settings import Settings


def settings_with(monkeypatch, events) -> Settings:
    monkeypatch.setenv("DICOM_EMULATOR_EVENTS", events if isinstance(events, str) else json.dumps(events))
    return Settings()


def test_every_sink_type_is_accepted_with_defaults(monkeypatch, tmp_path):
    settings = settings_with(
        monkeypatch,
        [
            {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
            {"type": "azure-storage-queue", "connection_string": "UseDevelopmentStorage=true", "queue_name": "dicom"},
            {"type": "file", "path": str(tmp_path / "events.jsonl"), "schema": "cloudevents", "name": "archive"},
        ],
    )
    webhook, queue, archive = settings.events
    assert (webhook.event_schema, webhook.max_attempts, webhook.max_events_per_batch) == ("eventgrid", 30, 1)
    assert webhook.sink_name == "webhook:http://127.0.0.1:9/hook"
    assert queue.sink_name == "azure-storage-queue:dicom"
    assert (archive.sink_name, archive.event_schema) == ("archive", "cloudevents")
    assert settings.events_enabled


@pytest.mark.parametrize(
    ("sink", "field"),
    [
        ({"type": "webhook"}, "url"),
        ({"type": "webhook", "url": "not a url"}, "url"),
        ({"type": "webhook", "url": "http://h/", "max_events_per_batch": 0}, "max_events_per_batch"),
        ({"type": "webhook", "url": "http://h/", "schema": "xml"}, "schema"),
        ({"type": "webhook", "url": "http://h/", "max_attempts": 0}, "max_attempts"),
        ({"type": "webhook", "url": "http://h/", "colour": "red"}, "colour"),
        ({"type": "azure-storage-queue", "queue_name": "q1"}, "connection_string"),
        ({"type": "azure-storage-queue", "connection_string": "x", "queue_name": "Bad_Name"}, "queue_name"),
        ({"type": "file"}, "path"),
        ({"type": "file", "path": "/tmp/x", "name": "has space"}, "name"),
        ({"type": "carrier-pigeon"}, "events.0"),
        ({"url": "http://h/"}, "type"),
    ],
)
def test_a_malformed_sink_is_refused_naming_the_field(monkeypatch, sink, field):
    with pytest.raises(ValidationError) as caught:
        settings_with(monkeypatch, [sink])
    assert field in str(caught.value)


def test_events_that_are_not_json_name_the_setting(monkeypatch):
    with pytest.raises(SettingsError, match='field "events"'):
        settings_with(monkeypatch, "[{'type': 'file'")


def test_two_sinks_with_one_name_are_refused(monkeypatch):
    with pytest.raises(ValidationError, match="two sinks are named 'same'"):
        settings_with(
            monkeypatch,
            [{"type": "file", "path": "/tmp/a", "name": "same"}, {"type": "file", "path": "/tmp/b", "name": "same"}],
        )


def test_an_events_file_adds_its_sinks(monkeypatch, tmp_path):
    path = tmp_path / "events.json"
    path.write_text(json.dumps([{"type": "file", "path": str(tmp_path / "out.jsonl")}]))
    monkeypatch.setenv("DICOM_EMULATOR_EVENTS_FILE", str(path))
    assert [sink.type for sink in Settings().events] == ["file"]


def test_a_malformed_events_file_is_refused_naming_the_file_and_field(monkeypatch, tmp_path):
    path = tmp_path / "events.json"
    path.write_text(json.dumps([{"type": "webhook", "url": "http://h/", "timeout_seconds": -1}]))
    monkeypatch.setenv("DICOM_EMULATOR_EVENTS_FILE", str(path))
    with pytest.raises(ValidationError, match=r"events_file .*events.json: \[0\]\.webhook\.timeout_seconds"):
        Settings()


def test_a_missing_events_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("DICOM_EMULATOR_EVENTS_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(ValidationError, match="events_file: cannot read"):
        Settings()


def test_without_sinks_and_inspector_events_are_off(monkeypatch):
    monkeypatch.setenv("DICOM_EMULATOR_EVENTS_INSPECTOR", "false")
    assert not Settings().events_enabled
