"""The delivery process's own set-up: what it logs, and how its queue client talks to the service."""

from __future__ import annotations

import logging

import pytest

from azure_dicom_emulator.features.events.delivery import AZURE_HTTP_LOGGER, configure_logging


@pytest.fixture
def azure_http_logger():
    logger, root = logging.getLogger(AZURE_HTTP_LOGGER), logging.getLogger()
    levels = logger.level, root.level
    yield logger
    logger.setLevel(levels[0])
    root.setLevel(levels[1])


@pytest.mark.parametrize("log_level", ["info", "warning"])
def test_the_storage_sdks_request_lines_are_quiet_below_debug(azure_http_logger, log_level):
    configure_logging(log_level)
    assert not azure_http_logger.isEnabledFor(logging.INFO)


def test_the_storage_sdks_request_lines_show_at_debug(azure_http_logger):
    configure_logging("debug")
    logging.getLogger().setLevel(logging.DEBUG)  # as basicConfig does when nothing configured logging before
    assert azure_http_logger.isEnabledFor(logging.INFO)
