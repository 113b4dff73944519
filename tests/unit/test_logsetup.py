"""Logs for people: kopf's routine successes leave the INFO log, planned waits are not
errors, and the JSON format names the object of each per-object line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ddmsp import logsetup


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield io.StringIO()
    root.handlers[:], root.level = saved


def _configure(stream: io.StringIO, fmt: logsetup.LogFormat, verbose: bool = False) -> None:
    logsetup.configure(fmt, verbose=verbose)
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "_KopfStreamHandler":  # not pytest's capture handler
            handler.setStream(stream)


def test_routine_successes_are_debug_and_waits_are_info(captured: io.StringIO) -> None:
    _configure(captured, "text")
    kopf_log = logging.getLogger("kopf.objects")
    kopf_log.info("Timer 'saml-metadata-poll' succeeded.")
    kopf_log.info("Handler 'watch' succeeded.")
    kopf_log.info("Activity 'build_registry.<locals>.close' succeeded.")
    kopf_log.error("Handler 'finalize' failed temporarily: waiting for the org")
    logging.getLogger("ddmsp.reconcile.engine").info("DatadogRole a/b: Ready=True Available")
    lines = captured.getvalue().splitlines()
    assert not any("succeeded" in line and "Activity" not in line for line in lines), lines
    assert any("Activity 'build_registry.<locals>.close' succeeded" in line for line in lines)
    assert any(" INFO " in line and "failed temporarily" in line for line in lines)
    assert any("DatadogRole a/b: Ready=True" in line for line in lines)


def test_verbose_keeps_routine_lines_at_debug(captured: io.StringIO) -> None:
    _configure(captured, "text", verbose=True)
    logging.getLogger("kopf.objects").info("Timer 'saml-metadata-poll' succeeded.")
    assert " DEBUG " in captured.getvalue()


def test_json_lines_name_the_object(captured: io.StringIO) -> None:
    _configure(captured, "json")
    ref = {"apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogRole", "name": "sre",
           "uid": "u1", "namespace": "team-a"}
    logging.getLogger("kopf.objects").warning("something about it",
                                              extra={"k8s_ref": ref, "k8s_skip": True})
    record = json.loads(captured.getvalue().splitlines()[-1])
    assert record["message"] == "something about it"
    assert record["object"]["namespace"] == "team-a" and record["object"]["name"] == "sre"
    assert record["severity"] == "warn"
