"""Guard: drift recording, org resolution and Datadog error translation each live in one
place (issue 18). A controller that writes its own copy again fails here, naming the line.

- drift: only reconcile/drift.py writes ``status.drift`` (kinds put it in the Observation);
- errors: only controllers/datadog_access.py builds the generic Datadog reasons (a create's
  lost answer too: ``failed_create``) and calls ``translate_datadog_error`` (connectors
  inherit ``DatadogConnector``);
- org: only controllers/orgref.py records the org acted in (``status.org`` /
  ``status.orgPublicId``) for a connector (``act_in_org``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import ddmsp

PACKAGE = Path(ddmsp.__file__).parent
SCANNED = sorted([*PACKAGE.glob("controllers/*.py"), *PACKAGE.glob("reconcile/*.py")])
def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _trees() -> list[tuple[str, ast.Module]]:
    return [(_rel(p), ast.parse(p.read_text(), str(p))) for p in SCANNED]


def _const(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _writes_status_key(tree: ast.Module, keys: set[str]) -> list[int]:
    """Lines assigning ``<x>.status[key]``/``status[key]``, a dict literal with the key, or
    ``.update(key=...)``."""
    lines: list[int] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and _const(target.slice) in keys:
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("update", "setdefault") \
                and (any(k.arg in keys for k in node.keywords)
                     or (node.args and _const(node.args[0]) in keys)):
            lines.append(node.lineno)
    return lines


def _generic_reasons() -> set[str]:
    """The reasons datadog_access.py builds (``translate_datadog_error``, a create's lost
    answer in ``failed_create``), read from its own source."""
    tree = ast.parse((PACKAGE / "controllers/datadog_access.py").read_text())
    funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
             and n.name in ("translate_datadog_error", "failed_create")]
    reasons = {str(_const(n.args[0])) for f in funcs for n in ast.walk(f)
               if isinstance(n, ast.Call)
               and isinstance(n.func, ast.Name) and n.func.id in ("Waiting", "Blocked")
               and n.args and isinstance(_const(n.args[0]), str)}
    assert {"MissingPermission", "RateLimited", "InvalidRequest", "Conflict",
            "CreationResultUnknown"} <= reasons
    return reasons


def _reason_builds(tree: ast.Module, reasons: set[str]) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id in ("Waiting", "Blocked")
            and n.args and _const(n.args[0]) in reasons]


def _translate_calls(tree: ast.Module) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name) and n.func.id == "translate_datadog_error"]


def _org_records(tree: ast.Module) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Subscript)
            and _const(t.slice) in ("org", "orgPublicId")
            and ast.unparse(t.value).endswith("obj.status")]


def test_only_the_engine_records_drift() -> None:
    found = {name: lines for name, tree in _trees() if name != "reconcile/drift.py"
             if (lines := _writes_status_key(tree, {"drift"}))}
    assert found == {}, f"status.drift written outside reconcile/drift.py: {found}"


def test_only_datadog_access_translates_datadog_errors() -> None:
    reasons = _generic_reasons()
    # The engine's own reasons (its claims' Conflict, ObserveOnly's NotFound) are not
    # Datadog errors: only controllers are held to this.
    others = [(n, t) for n, t in _trees() if n.startswith("controllers/")
              and n != "controllers/datadog_access.py"]
    built = {n: lines for n, t in others if (lines := _reason_builds(t, reasons))}
    called = {n: lines for n, t in others if (lines := _translate_calls(t))}
    assert built == {}, f"generic Datadog reasons built outside datadog_access.py: {built}"
    assert called == {}, (f"translate_datadog_error called outside DatadogConnector "
                          f"(inherit it instead): {called}")


def test_only_orgref_records_the_org_acted_in() -> None:
    found = {name: lines for name, tree in _trees()
             if name != "controllers/orgref.py"
             if (lines := _org_records(tree))}
    assert found == {}, f"the org acted in recorded outside orgref.act_in_org: {found}"


def test_the_guard_sees_a_reintroduced_copy() -> None:
    """The checks are not vacuous: a controller-shaped snippet with each copy is caught."""
    copy = ast.parse(
        "async def connect(self, ctx):\n"
        "    target = await resolve_org(ctx, spec, self.settings, self.clients)\n"
        "    ctx.obj.status['orgPublicId'] = target.public_id\n"
        "    self.obj.status['drift'] = {'differences': []}\n"
        "    raise Blocked('InvalidRequest', 'Datadog rejected it')\n"
        "    raise Waiting('CreationResultUnknown', 'lost', delay=5)\n"
        "def translate_error(self, exc):\n"
        "    return translate_datadog_error(exc, 1, 2)\n")
    assert _org_records(copy) == [3]
    assert _writes_status_key(copy, {"drift"}) == [4]
    assert _reason_builds(copy, _generic_reasons()) == [5, 6]
    assert _translate_calls(copy) == [8]
