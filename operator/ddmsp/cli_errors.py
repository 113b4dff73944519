"""Kubernetes errors of the user commands (report, confirm-registration) in one line.

Why: the kubernetes client's ApiException prints the HTTP status, every response header and
the raw body; a user without list rights saw a dozen lines and no hint of what to ask for.
The line names what was attempted, what is missing and the command that checks it.
"""

from __future__ import annotations

from ddmsp.reconcile.kubeerrors import first_line as _first_line
from ddmsp.reconcile.kubeerrors import status_message as _status_message


def describe(exc: BaseException, verb: str, resource: str, namespace: str | None) -> str:
    """One line for a failed ``verb`` of ``resource`` (plural.group) in ``namespace``."""
    where = f"in namespace {namespace}" if namespace else "in all namespaces"
    scope = f" -n {namespace}" if namespace else " -A"
    status = getattr(exc, "status", None)
    detail = _status_message(exc)
    if status == 401:
        return (f"the cluster refused your credentials (401){': ' + detail if detail else ''}; "
                "log in again or point --kubeconfig/KUBECONFIG at valid credentials")
    if status == 403:
        return (f"forbidden: you may not {verb} {resource} {where}"
                f"{' (' + detail + ')' if detail else ''}; ask for the ddmsp view role "
                f"(check: kubectl auth can-i {verb} {resource}{scope})")
    if status == 404:
        return (f"{resource} not found {where}{': ' + detail if detail else ''}; is the "
                "namespace right and are ddmsp's CRDs installed (kubectl get crd "
                f"{resource})?")
    if status is not None:
        return f"{verb} {resource} {where} failed: HTTP {status}{': ' + detail if detail else ''}"
    name = type(exc).__name__
    if name in ("ConfigException",):
        return (f"no Kubernetes credentials ({_first_line(str(exc))[:200]}); set KUBECONFIG "
                "or --kubeconfig")
    if name in ("MaxRetryError", "NewConnectionError", "ConnectionRefusedError",
                "ProtocolError") or isinstance(exc, OSError):
        return ("no cluster answered (is it running, and is KUBECONFIG the right one?): "
                f"{name}")
    return f"{verb} {resource} {where} failed: {name}: {_first_line(str(exc))[:200]}"
