"""A pass reads each Secret once (``secrets_read_once``): the API server's answers to our
own reads and writes stand in for later reads of the same pass; outside a pass, and after
``forget_secret``, every read is a GET. The kubernetes client's CoreV1Api is the one
faked part (it records the calls)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from kubernetes import client

from ddmsp.reconcile.kube import KubeAPI, secrets_read_once


class FakeCore:
    """Secrets by name in one namespace; records every call's method name."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.data: dict[str, dict[str, str]] = {}

    def _secret(self, name: str) -> client.V1Secret:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in self.data[name].items()}
        return client.V1Secret(metadata=client.V1ObjectMeta(name=name, namespace="ns"),
                               data=encoded)

    def read_namespaced_secret(self, name: str, namespace: str) -> client.V1Secret:
        self.calls.append("read")
        if name not in self.data:
            raise client.ApiException(status=404, reason="Not Found")
        return self._secret(name)

    def patch_namespaced_secret(self, name: str, namespace: str, patch: dict[str, Any],
                                **kwargs: Any) -> client.V1Secret:
        self.calls.append("patch")
        self.data.setdefault(name, {}).update(patch.get("stringData") or {})
        return self._secret(name)

    def create_namespaced_secret(self, namespace: str, body: client.V1Secret,
                                 **kwargs: Any) -> client.V1Secret:
        self.calls.append("create")
        name = str(body.metadata.name)
        self.data[name] = dict(body.string_data or {})
        return self._secret(name)


def kube_with(core: FakeCore) -> KubeAPI:
    kube = KubeAPI(client.ApiClient(), max_threads=1)
    kube.core = core  # type: ignore[assignment]
    return kube


def test_outside_a_pass_every_read_is_a_get() -> None:
    core = FakeCore()
    core.data["keys"] = {"api-key": "a"}
    kube = kube_with(core)

    async def reads() -> None:
        await kube.read_secret("ns", "keys")
        await kube.read_secret("ns", "keys")

    asyncio.run(reads())
    assert core.calls == ["read", "read"]


def test_within_a_pass_a_secret_is_read_once_and_our_writes_answer_later_reads() -> None:
    core = FakeCore()
    core.data["keys"] = {"api-key": "a"}
    kube = kube_with(core)

    async def one_pass() -> list[dict[str, str] | None]:
        seen: list[dict[str, str] | None] = []
        with secrets_read_once():
            seen.append(await kube.read_secret_data("ns", "keys"))
            seen.append(await kube.read_secret_data("ns", "keys"))
            await kube.write_secret("ns", "keys", {"app-key": "b"}, {}, exists=True)
            seen.append(await kube.read_secret_data("ns", "keys"))  # the write's answer
            core.data["keys"]["api-key"] = "changed by someone else"
            kube.forget_secret("ns", "keys")  # found wanting: read afresh
            seen.append(await kube.read_secret_data("ns", "keys"))
        return seen

    seen = asyncio.run(one_pass())
    assert core.calls == ["read", "patch", "read"]
    assert seen[0] == seen[1] == {"api-key": "a"}
    assert seen[2] == {"api-key": "a", "app-key": "b"}
    assert seen[3] == {"api-key": "changed by someone else", "app-key": "b"}


def test_a_missing_secret_is_known_missing_until_this_pass_creates_it() -> None:
    core = FakeCore()
    kube = kube_with(core)

    async def one_pass() -> tuple[Any, Any, Any]:
        with secrets_read_once():
            first = await kube.read_secret("ns", "keys")
            again = await kube.read_secret("ns", "keys")
            await kube.create_secret("ns", client.V1Secret(
                metadata=client.V1ObjectMeta(name="keys"), string_data={"api-key": "a"}))
            made = await kube.read_secret_data("ns", "keys")
        return first, again, made

    first, again, made = asyncio.run(one_pass())
    assert first is None and again is None and made == {"api-key": "a"}
    assert core.calls == ["read", "create"]


def test_each_pass_reads_afresh() -> None:
    core = FakeCore()
    core.data["keys"] = {"api-key": "a"}
    kube = kube_with(core)

    async def two_passes() -> None:
        for _ in range(2):
            with secrets_read_once():
                await kube.read_secret("ns", "keys")
                await kube.read_secret("ns", "keys")

    asyncio.run(two_passes())
    assert core.calls == ["read", "read"]
