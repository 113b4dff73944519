"""The docs cannot go stale: reference pages are generated from the code and compared, every
reason the operator can report is explained, and every link resolves."""

from __future__ import annotations

import ast
import re

from ddmsp.docgen import pages
from tests.support.kube import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def test_generated_reference_is_current() -> None:
    stale = [rel for rel, text in pages(REPO_ROOT).items()
             if not (DOCS / rel).exists() or (DOCS / rel).read_text() != text]
    assert not stale, f"run `python -m ddmsp.docgen docs/`: stale {stale}"


def reasons() -> dict[str, set[str]]:
    """Reasons passed to Blocked/Waiting/MetadataError anywhere in the operator."""
    found: dict[str, set[str]] = {"Blocked": set(), "Waiting": set()}
    for path in (REPO_ROOT / "operator" / "ddmsp").rglob("*.py"):
        if "simulator" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            arg = node.args[0]
            value = arg.value if isinstance(arg, ast.Constant) else \
                constants.get(arg.id) if isinstance(arg, ast.Name) else None
            if isinstance(value, str) and name in ("Blocked", "MetadataError"):
                found["Blocked"].add(value)
            elif isinstance(value, str) and name == "Waiting":
                found["Waiting"].add(value)
    return found


def test_every_stalled_and_waiting_reason_is_explained() -> None:
    text = (DOCS / "operations.md").read_text()
    stalled = text.split("### Stalled reasons")[1].split("### Waits")[0]
    waits = text.split("### Waits")[1].split("## Backups")[0]
    found = reasons()
    assert "CreationResultUnknown" in found["Blocked"] and "RateLimited" in found["Waiting"]
    assert not {r for r in found["Blocked"] if f"`{r}`" not in stalled}
    assert not {r for r in found["Waiting"] if f"`{r}`" not in waits}


def test_readme_links_the_docs_and_every_link_resolves() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in readme, page.name
    for doc in [REPO_ROOT / "README.md", *DOCS.rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (doc.parent / target).resolve().exists(), f"{doc.name}: {target}"
