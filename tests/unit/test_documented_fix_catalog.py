"""Every reason docs/operations.md explains has a tested fix (or says why it cannot).

Why: issue 19 asks that each documented fix be a tested path; without this check a reason
added to the docs, or a test renamed, silently leaves a fix nobody ran.
"""

from __future__ import annotations

import ast
import re
from functools import cache

from tests.integration import fix_catalog
from tests.support.kube import REPO_ROOT


def table_reasons(section: str, end: str) -> list[str]:
    """The backticked names in the first column of a table of docs/operations.md."""
    text = (REPO_ROOT / "docs" / "operations.md").read_text()
    table = text.split(section)[1].split(end)[0]
    return [name for line in table.splitlines() if line.startswith("| `")
            for name in re.findall(r"`(\w+)`", line.split("|")[1])]


def documented() -> dict[str, list[str]]:
    return {"stalled": table_reasons("### Stalled reasons", "### Waits"),
            "wait": table_reasons("### Waits", "## Backups")}


@cache
def functions_in(path: str) -> frozenset[str]:
    file = REPO_ROOT / path
    if not file.exists():
        return frozenset()
    tree = ast.parse(file.read_text())
    return frozenset(n.name for n in tree.body
                     if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))


def test_the_tables_are_read() -> None:
    found = documented()
    assert "CreationResultUnknown" in found["stalled"] and "SinkNotFound" in found["stalled"]
    assert "Creating" in found["wait"] and "KeysInEscrow" in found["wait"]
    assert len(found["stalled"]) > 25 and len(found["wait"]) > 25


def test_every_documented_reason_has_a_tested_fix_or_says_why_not() -> None:
    tables = {"stalled": fix_catalog.STALLED, "wait": fix_catalog.WAITS}
    others = {**fix_catalog.NOT_EXERCISED, **fix_catalog.UNTESTED}
    assert not set(fix_catalog.NOT_EXERCISED) & set(fix_catalog.UNTESTED)
    missing, stale, double = [], [], []
    for table, reasons in documented().items():
        for reason in reasons:
            key = f"{table}/{reason}"
            if reason in tables[table] and key in others:
                double.append(key)
            elif reason not in tables[table] and key not in others:
                missing.append(key)
        stale += [f"{table}/{r}" for r in tables[table] if r not in reasons]
    stale += [k for k in others if k.split("/", 1)[1] not in documented()[k.split("/", 1)[0]]]
    assert not missing, f"reasons of docs/operations.md with no tested fix: {missing}"
    assert not stale, f"catalog entries for reasons the docs no longer list: {stale}"
    assert not double, f"reasons both tested and listed as not tested: {double}"
    for key, why in others.items():
        assert why.strip(), key
    for label, entries in (("not exercised", fix_catalog.NOT_EXERCISED),
                           ("untested", fix_catalog.UNTESTED)):
        for key, why in sorted(entries.items()):
            print(f"{label}: {key}: {why}")


def test_every_cited_test_exists() -> None:
    bad = []
    for reasons in (fix_catalog.STALLED, fix_catalog.WAITS):
        for reason, node_ids in reasons.items():
            assert node_ids, reason
            for node_id in node_ids:
                path, _, name = node_id.partition("::")
                if not path.startswith("tests/integration/") or \
                        name not in functions_in(path):
                    bad.append(f"{reason}: {node_id}")
    assert not bad, f"cited tests that do not exist: {bad}"
