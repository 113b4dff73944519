"""The identity ddmsp gives kopf needs no passwd entry (issue 20: the image crashed at start).

A pod's environment has no LOGNAME/USER, and the chart's uid 10001 may have no passwd entry:
there ``getpass.getuser()`` (what kopf calls by itself) raises, and ddmsp must not.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import pwd
import re
import socket
from typing import Any

import pytest

from ddmsp import runner
from ddmsp.config import OperatorSettings
from ddmsp.peering_identity import peering_identity, user_name

USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME", "POD_ID", "POD_NAME")


def uid_without_passwd_entry() -> int:
    for uid in range(10001, 60000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise AssertionError("every uid has a passwd entry")


@pytest.fixture
def pod_like_env(monkeypatch: pytest.MonkeyPatch) -> int:
    """No user variables, and the process's uid (as seen by getpass) unknown to passwd."""
    for name in USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    uid = uid_without_passwd_entry()
    monkeypatch.setattr(os, "getuid", lambda: uid)
    return uid


def test_getpass_itself_fails_in_a_pod_like_environment(pod_like_env: int) -> None:
    """The control: this is the crash kopf's own identity hit in the image."""
    with pytest.raises(KeyError, match="uid not found"):
        getpass.getuser()


def test_identity_without_passwd_entry_is_the_numeric_uid(pod_like_env: int) -> None:
    assert user_name() == f"uid{pod_like_env}"
    identity = peering_identity()
    host = re.escape(socket.gethostname())
    assert re.fullmatch(rf"uid{pod_like_env}@{host}/\d{{14}}/[a-z0-9]{{3}}", identity)


def test_pod_name_wins_then_user_variables(pod_like_env: int) -> None:
    assert peering_identity({"POD_NAME": "ddmsp-7f9c-abcde", "USER": "x"}) == "ddmsp-7f9c-abcde"
    assert peering_identity({"POD_ID": "kopf-pod", "POD_NAME": "chart-pod"}) == "kopf-pod"
    assert user_name({"LOGNAME": "ops", "USER": "other"}) == "ops"  # getpass's order
    assert peering_identity({"USER": "dev"}).startswith(f"dev@{socket.gethostname()}/")


def test_a_known_uid_keeps_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert user_name(uid=0) == pwd.getpwuid(0).pw_name


def test_run_operator_hands_kopf_an_identity(pod_like_env: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf computes its own (getpass) identity only when given none: ddmsp always gives one.
    kopf.operator is replaced by a recorder (the test's fake); nothing else runs."""
    seen: dict[str, Any] = {}

    async def fake_operator(**kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(runner, "build_registry", lambda settings: (None, None, None))
    monkeypatch.setattr(runner.kopf, "operator", fake_operator)
    monkeypatch.setenv("POD_NAME", "ddmsp-0")
    settings = OperatorSettings(metrics_port=0, readiness_port=0, leader_election=False)
    asyncio.run(runner.run_operator(settings))
    assert seen["identity"] == "ddmsp-0"
