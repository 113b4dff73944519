"""User commands say what failed in one line, naming what is missing: no header dumps."""

from __future__ import annotations

import argparse
import json

import pytest
from kubernetes import client
from urllib3.exceptions import MaxRetryError

from ddmsp import report
from ddmsp.cli_errors import describe

FORBIDDEN_BODY = json.dumps({
    "kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
    "message": 'datadogclientorgs.ddmsp.io is forbidden: User "jane" cannot list resource '
               '"datadogclientorgs" in API group "ddmsp.io" in the namespace "team-a"'})


def _forbidden() -> client.ApiException:
    exc = client.ApiException(status=403, reason="Forbidden")
    exc.body = FORBIDDEN_BODY
    exc.headers = {"Audit-Id": "x", "X-Kubernetes-Pf-Flowschema-Uid": "y"}
    return exc


def _args(namespaces: list[str]) -> argparse.Namespace:
    return argparse.Namespace(kubeconfig=None, namespaces=namespaces, output="table",
                              sort_by="estimated", ascending=False)


def test_report_without_list_rights_is_one_line_naming_the_fix(
        capsys: pytest.CaptureFixture[str]) -> None:
    def lister(_: str | None, __: list[str]) -> list[dict[str, object]]:
        raise _forbidden()

    assert report.main(_args(["team-a"]), lister=lister) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "forbidden: you may not list datadogclientorgs.ddmsp.io in namespace team-a" in err
    assert 'User "jane"' in err and "kubectl auth can-i list" in err
    assert "Audit-Id" not in err and "HTTP response headers" not in err


@pytest.mark.parametrize(("exc", "words"), [
    (client.ApiException(status=401, reason="Unauthorized"), "refused your credentials"),
    (client.ApiException(status=404, reason="Not Found"), "CRDs installed"),
    (MaxRetryError(None, "https://127.0.0.1:1/", "refused"), "no cluster answered"),  # type: ignore[arg-type]
    (ConnectionRefusedError(111, "Connection refused"), "no cluster answered"),
])
def test_each_cause_is_named(exc: BaseException, words: str) -> None:
    line = describe(exc, "list", "datadogclientorgs.ddmsp.io", None)
    assert words in line and "\n" not in line
