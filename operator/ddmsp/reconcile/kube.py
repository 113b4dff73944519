"""The few Kubernetes calls the engine makes, off the event loop.

The official client is synchronous; every call runs in a worker thread so that one slow
request never blocks the other objects' handlers (kopf runs them all on one loop).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client

from ddmsp.reconcile.objectcache import ObjectCache
from ddmsp.resources.kinds import KindInfo

# Where a cluster-scoped object's events are recorded when the operator's own namespace is
# not given (an Event is namespaced; the kubelet puts a Node's in ``default``).
CLUSTER_EVENTS_NAMESPACE = "default"


class ObjectChanged(Exception):
    """A compare-and-swap write lost: the object changed since it was read."""


# The Secrets one engine pass has read or written, as the API server last answered
# (None: not found). A pass reads each Secret at most once: the steps of a pass (observe,
# recover, reserve, the key hand-over, observe again) used to read the same Secret up to
# six times within a second. Our own writes replace the entry with the server's answer, a
# failed write drops it; outside a pass (``secrets_read_once``) every read is a GET.
_PASS_SECRETS: contextvars.ContextVar[dict[tuple[str, str], client.V1Secret | None] | None] = \
    contextvars.ContextVar("ddmsp_pass_secrets", default=None)


@contextlib.contextmanager
def secrets_read_once() -> Iterator[None]:
    """Scope one pass: within it a Secret is fetched once and then known from our own
    reads and writes (tasks started inside, such as a shielded create, share it)."""
    token = _PASS_SECRETS.set({})
    try:
        yield
    finally:
        _PASS_SECRETS.reset(token)


def _pass_note(namespace: str, name: str, secret: client.V1Secret | None) -> None:
    memo = _PASS_SECRETS.get()
    if memo is not None:
        memo[(namespace, name)] = secret


def _pass_drop(namespace: str, name: str) -> None:
    memo = _PASS_SECRETS.get()
    if memo is not None:
        memo.pop((namespace, name), None)


class KubeAPI:
    """Async facade over the kubernetes client for objects, Secrets and Events."""

    def __init__(self, api_client: client.ApiClient, max_threads: int = 32,
                 cluster_events_namespace: str = CLUSTER_EVENTS_NAMESPACE) -> None:
        # A cluster-scoped object's events go to the operator's own namespace: the chart
        # grants event writes there in every install mode (``default`` may not be watched);
        # ``kubectl describe`` of a cluster-scoped object lists events of all namespaces.
        self.cluster_events_namespace = cluster_events_namespace
        # One pooled connection per worker thread: with urllib3's default (10) the other
        # threads' connections are dropped after each call, and every later call pays a
        # new TLS handshake (the convergence benchmark's profile showed it).
        cfg = api_client.configuration
        if (cfg.connection_pool_maxsize or 0) < max_threads:
            cfg.connection_pool_maxsize = max_threads
            api_client.rest_client = type(api_client.rest_client)(cfg)
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="ddmsp-kube"
        )
        # The newest body of each watched object (reconcile/objectcache.py): reads of the
        # engine's kinds come from here once the watch (or our own write) has shown them.
        self.cache = ObjectCache()
        self._secret_data: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    # ------------------------------------------------------------- custom objects
    async def get(self, info: KindInfo, namespace: str, name: str) -> dict[str, Any] | None:
        """The object (a private copy): from the watch-fed cache when it holds it, else a
        GET (whose answer then seeds the cache)."""
        cached = self.cache.get(info.plural, namespace, name)
        if cached is not None:
            return cached
        return await self.get_fresh(info, namespace, name)

    async def get_fresh(self, info: KindInfo, namespace: str, name: str
                        ) -> dict[str, Any] | None:
        """The object as the API server has it now (namespace "": cluster-scoped)."""
        try:
            if namespace:
                body = cast(dict[str, Any], await self._run(
                    self.custom.get_namespaced_custom_object,
                    info.group, info.version, namespace, info.plural, name,
                ))
            else:
                body = cast(dict[str, Any], await self._run(
                    self.custom.get_cluster_custom_object,
                    info.group, info.version, info.plural, name,
                ))
        except client.ApiException as exc:
            if exc.status == 404:
                self.cache.forget(info.plural, namespace, name)
                return None
            raise
        self.cache.offer(info.plural, body)
        return body

    async def _patch_metadata(self, info: KindInfo, namespace: str, name: str,
                              meta: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch an object's metadata (namespace "": a cluster-scoped object)."""
        if namespace:
            return cast(dict[str, Any], await self._run(
                self.custom.patch_namespaced_custom_object,
                info.group, info.version, namespace, info.plural, name, {"metadata": meta}))
        return cast(dict[str, Any], await self._run(
            self.custom.patch_cluster_custom_object,
            info.group, info.version, info.plural, name, {"metadata": meta}))

    async def patch_annotations(
        self, info: KindInfo, namespace: str, name: str, annotations: dict[str, str | None],
        *, resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch annotations (None deletes one); returns the updated object.

        With ``resource_version`` the patch is a compare-and-swap: the API server refuses
        it (409, raised as ``ObjectChanged``) when the object changed since that version.
        """
        meta: dict[str, Any] = {"annotations": annotations}
        if resource_version:
            meta["resourceVersion"] = resource_version
        try:
            updated = await self._patch_metadata(info, namespace, name, meta)
        except client.ApiException as exc:
            if exc.status in (404, 409):  # what we held is outdated: read afresh next time
                self.cache.forget(info.plural, namespace, name)
            if exc.status == 409 and resource_version:
                raise ObjectChanged(f"{info.kind} {namespace}/{name} changed") from None
            raise
        self.cache.offer(info.plural, updated)
        return updated

    async def patch_finalizers(
        self, info: KindInfo, namespace: str, name: str, finalizers: list[str],
        resource_version: str,
    ) -> dict[str, Any]:
        """Set metadata.finalizers as a compare-and-swap on ``resource_version`` (a merge
        patch replaces the whole list, so only a precondition keeps another controller's
        finalizer added meanwhile): ``ObjectChanged`` when the object changed since."""
        meta = {"finalizers": finalizers or None, "resourceVersion": resource_version}
        try:
            updated = await self._patch_metadata(info, namespace, name, meta)
        except client.ApiException as exc:
            if exc.status in (404, 409):
                self.cache.forget(info.plural, namespace, name)
            if exc.status == 409:
                raise ObjectChanged(f"{info.kind} {namespace}/{name} changed") from None
            raise
        gone = (updated.get("metadata") or {})
        if gone.get("deletionTimestamp") and not gone.get("finalizers"):
            # The last finalizer went: the object is deleted. Its watch event may have been
            # handled already (the cache forgot it): never bring it back from this answer.
            self.cache.forget(info.plural, namespace, name)
        else:
            self.cache.offer(info.plural, updated)
        return updated

    async def patch_status(
        self, info: KindInfo, namespace: str, name: str, status: dict[str, Any],
        *, resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status; with ``resource_version`` a compare-and-swap (409 when
        the object changed since). Every write feeds the cache: the engine must see it.
        A merge patch replaces lists whole (``conditions``): writers that share a status
        go through reconcile/statuswrite.py, which sends a precondition. Namespace "":
        a cluster-scoped object."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            if namespace:
                updated = cast(dict[str, Any], await self._run(
                    self.custom.patch_namespaced_custom_object_status,
                    info.group, info.version, namespace, info.plural, name, body,
                ))
            else:
                updated = cast(dict[str, Any], await self._run(
                    self.custom.patch_cluster_custom_object_status,
                    info.group, info.version, info.plural, name, body,
                ))
        except client.ApiException as exc:
            if exc.status in (404, 409):  # what we held is outdated: read afresh next time
                self.cache.forget(info.plural, namespace, name)
            raise
        self.cache.offer(info.plural, updated)
        return updated

    async def create_object(self, info: KindInfo, namespace: str, body: dict[str, Any]
                            ) -> dict[str, Any]:
        """Create a namespaced object of an engine kind (an object one kind owns for
        another, controllers/opsconnection.py); the answer seeds the cache."""
        created = cast(dict[str, Any], await self._run(
            self.custom.create_namespaced_custom_object,
            info.group, info.version, namespace, info.plural, body,
        ))
        self.cache.offer(info.plural, created)
        return created

    async def patch_object(self, info: KindInfo, namespace: str, name: str,
                           patch: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch a namespaced object (not its status); the answer seeds the cache."""
        try:
            updated = cast(dict[str, Any], await self._run(
                self.custom.patch_namespaced_custom_object,
                info.group, info.version, namespace, info.plural, name, patch,
            ))
        except client.ApiException as exc:
            if exc.status in (404, 409):
                self.cache.forget(info.plural, namespace, name)
            raise
        self.cache.offer(info.plural, updated)
        return updated

    async def delete_object(self, info: KindInfo, namespace: str, name: str, uid: str) -> None:
        """Delete a namespaced object, only the one with this UID (a precondition: a
        namesake made meanwhile stays); already gone is fine."""
        try:
            await self._run(
                self.custom.delete_namespaced_custom_object,
                info.group, info.version, namespace, info.plural, name,
                body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)),
            )
        except client.ApiException as exc:
            if exc.status not in (404, 409):
                raise

    # -------------------------------------------------------------------- secrets
    async def read_secret(self, namespace: str, name: str) -> client.V1Secret | None:
        """The Secret as the API server has it now, or as this pass last read or wrote it
        (``secrets_read_once``). Its decoded data is remembered, as ``read_secret_data``
        does."""
        memo = _PASS_SECRETS.get()
        if memo is not None and (namespace, name) in memo:
            return memo[(namespace, name)]
        try:
            secret = cast(client.V1Secret,
                          await self._run(self.core.read_namespaced_secret, name, namespace))
        except client.ApiException as exc:
            if exc.status == 404:
                self._secret_data.pop((namespace, name), None)
                _pass_note(namespace, name, None)
                return None
            raise
        self._remember(namespace, name, secret)
        return secret

    def _remember(self, namespace: str, name: str, secret: client.V1Secret) -> None:
        """A Secret as the API server answered a read or our write."""
        self._secret_data[(namespace, name)] = (time.monotonic(), decode_secret(secret))
        _pass_note(namespace, name, secret)

    async def patch_secret(self, namespace: str, name: str, patch: dict[str, Any]
                           ) -> client.V1Secret:
        """Merge-patch a Secret (metadata.resourceVersion in the patch makes it a
        compare-and-swap: ``ObjectChanged`` when it changed since)."""
        self.forget_secret(namespace, name)
        try:
            patched = cast(client.V1Secret, await self._run(
                self.core.patch_namespaced_secret, name, namespace, patch))
        except client.ApiException as exc:
            if exc.status == 409:
                raise ObjectChanged(f"Secret {namespace}/{name} changed") from None
            raise
        self._remember(namespace, name, patched)
        return patched

    async def create_secret(self, namespace: str, body: client.V1Secret) -> client.V1Secret:
        name = str(body.metadata.name if body.metadata is not None else "")
        self.forget_secret(namespace, name)
        created = cast(client.V1Secret,
                       await self._run(self.core.create_namespaced_secret, namespace, body))
        self._remember(namespace, name, created)
        return created

    async def list_secrets(self, namespace: str, label_selector: str) -> list[client.V1Secret]:
        found = await self._run(self.core.list_namespaced_secret, namespace,
                                label_selector=label_selector)
        return list(found.items or [])

    async def namespace_uid(self, namespace: str) -> str | None:
        try:
            ns = await self._run(self.core.read_namespace, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return str(ns.metadata.uid or "") or None

    async def read_secret_data(self, namespace: str, name: str, *, max_age: float = 0.0
                               ) -> dict[str, str] | None:
        """The Secret's decoded data. ``max_age`` > 0 accepts a read that recent (keys are
        read by every pass of every object of an org; Secrets are not watched, on purpose:
        least privilege). Our own writes drop the remembered read at once."""
        held = self._secret_data.get((namespace, name))
        if max_age > 0 and held is not None and time.monotonic() - held[0] < max_age:
            return dict(held[1])
        secret = await self.read_secret(namespace, name)  # a 404 forgot the old data
        return None if secret is None else decode_secret(secret)

    def forget_secret(self, namespace: str, name: str) -> None:
        """Drop a remembered read, also this pass's (its content was found wanting, or it
        is being written: read afresh next time)."""
        self._secret_data.pop((namespace, name), None)
        _pass_drop(namespace, name)

    async def write_secret(
        self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str],
        *, exists: bool = False,
    ) -> dict[str, str]:
        """Create the Secret, or merge these keys and labels into the one that exists;
        returns its decoded data as the API server answered the write (remembered as a
        read: the caller needs no read back). ``exists``: the caller just read or reserved
        it, so the merge comes first (one request instead of a create answered 409 and then
        the merge; a Secret deleted meanwhile is created)."""
        self.forget_secret(namespace, name)
        patch = {"metadata": {"labels": labels}, "stringData": data}
        written: client.V1Secret | None = None
        if exists:
            try:
                written = await self._run(self.core.patch_namespaced_secret, name, namespace,
                                          patch)
            except client.ApiException as exc:
                if exc.status != 404:  # deleted since it was read: create it below
                    raise
        if written is None:
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels),
                type="Opaque",
                string_data=data,
            )
            try:
                written = await self._run(self.core.create_namespaced_secret, namespace, body)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                written = await self._run(self.core.patch_namespaced_secret, name, namespace,
                                          patch)
        self._remember(namespace, name, cast(client.V1Secret, written))
        return decode_secret(cast(client.V1Secret, written))

    async def reserve_secret(
        self, namespace: str, name: str, labels: dict[str, str], keys: list[str],
        finalizers: list[str] | None = None,
    ) -> None:
        """Prove that ``keys`` can be written into this Secret before anything depends on it:
        create it empty with ``labels`` (and ``finalizers``: a Secret made to hold keys is
        held from its first moment) when absent, then a server-side dry-run write of the
        keys (immutable Secrets, admission webhooks and RBAC all answer here, not later)."""
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels,
                                         finalizers=list(finalizers or []) or None),
            type="Opaque",
        )
        try:
            await self.create_secret(namespace, body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        patch = {"metadata": {"labels": labels}, "stringData": {k: "" for k in keys}}
        await self._run(self.core.patch_namespaced_secret, name, namespace, patch,
                        dry_run="All")

    async def list_objects(
        self, info: KindInfo, namespaces: list[str] | None
    ) -> list[dict[str, Any]]:
        """Objects of a kind in these namespaces (all namespaces when None or empty)."""
        return [body async for page in self.list_pages(info, namespaces) for body in page]

    async def list_pages(
        self, info: KindInfo, namespaces: list[str] | None, page_size: int = 100
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The same, a page at a time and without ``managedFields``: a caller that indexes
        as it goes never holds thousands of parsed objects at once (a parsed object is
        tens of KiB; a SAML config carries its IdP metadata)."""
        scopes: list[str | None] = list(namespaces) if namespaces else [None]
        for namespace in scopes:
            token = ""
            while True:
                extra: dict[str, Any] = {"limit": page_size}
                if token:
                    extra["_continue"] = token
                if namespace is None:
                    found = await self._run(self.custom.list_cluster_custom_object,
                                            info.group, info.version, info.plural, **extra)
                else:
                    found = await self._run(self.custom.list_namespaced_custom_object,
                                            info.group, info.version, namespace, info.plural,
                                            **extra)
                items = list(found.get("items") or [])
                for item in items:  # the field managers' bookkeeping: read by nobody here
                    (item.get("metadata") or {}).pop("managedFields", None)
                yield items
                token = str((found.get("metadata") or {}).get("continue") or "")
                del found
                if not token:
                    break

    async def read_config_map_data(self, namespace: str, name: str
                                   ) -> tuple[dict[str, str], str] | None:
        """The ConfigMap's data and its resourceVersion (None: it does not exist)."""
        try:
            cm = await self._run(self.core.read_namespaced_config_map, name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(cm.data or {}), str(cm.metadata.resource_version or "")

    # --------------------------------------------------------------------- events
    async def post_event(
        self, obj: dict[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """Record a core/v1 Event on ``obj`` (``kubectl describe`` shows it). A
        cluster-scoped object's events go to ``cluster_events_namespace``."""
        meta = obj["metadata"]
        now = datetime.now(UTC)
        involved = meta.get("namespace") or None
        where = involved or self.cluster_events_namespace
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        # A plain body, and the answer not parsed into models: an event is written for
        # kubectl to read, never read back here (the parsing was most of its cost).
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": where},
            "involvedObject": {k: v for k, v in {
                "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
                "namespace": involved, "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion")}.items() if v is not None},
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "source": {"component": "ddmsp"},
            "reportingComponent": "ddmsp.io/operator",
            "reportingInstance": "ddmsp",
        }

        def post() -> None:
            answer: Any = self.core.create_namespaced_event(
                where, event, _preload_content=False)  # type: ignore[arg-type]
            answer.drain_conn()  # the connection goes back to the pool, ready for reuse
            answer.release_conn()

        # Events are best effort: never fail a reconcile over one.
        with contextlib.suppress(client.ApiException):
            await self._run(post)


def decode_secret(secret: client.V1Secret) -> dict[str, str]:
    return {
        k: base64.b64decode(v).decode("utf-8", errors="replace")
        for k, v in (secret.data or {}).items()
    }
