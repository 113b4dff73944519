"""Notice changes of the ConfigMaps and Secrets that DatadogSAMLConfigs read, and nothing else.

The operator must not stream every Secret of the cluster into its memory (nor need the
right to) just to notice when an IdP metadata document changes. So:

- Sources labelled ``ddmsp.io/idp-metadata`` (any value) are watched with a server-side
  label selector: the API server sends the operator those objects only, and a change is
  noticed at once. Unlabelled ConfigMaps and Secrets never reach the operator's watches.
- A source without that label is read by name (one GET, no list, no watch) every
  ``metadata_poll`` seconds by a timer on the config that references it; an Event
  ``MetadataSourceNotLabeled`` on the config says to add the label for instant,
  poll-free notice.

Either way a change stamps the source's resourceVersion on the config as the annotation
``ddmsp.io/idp-metadata-source-version``: an ordinary update of the config, so the
reconcile handler runs with its usual retries (and a Stalled config is re-armed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from kubernetes import client as k8s

from ddmsp import API_GROUP
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.refindex import RefIndex
from ddmsp.resources.samlconfig import SAML_CONFIG

log = logging.getLogger(__name__)

SOURCE_LABEL = f"{API_GROUP}/idp-metadata"
SOURCE_ANNOTATION = f"{API_GROUP}/idp-metadata-source-version"
Source = tuple[str, str, str]


def metadata_source(namespace: str, spec: Any) -> Source | None:
    """(kind, namespace, name) of the ConfigMap or Secret a SAML config reads, if any."""
    source = (spec or {}).get("idpMetadata") or {}
    for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        ref = source.get(field)
        if isinstance(ref, dict) and ref.get("name"):
            return kind, namespace, str(ref["name"])
    return None


def stamp(kind: str, name: str, version: str | None) -> str:
    """The annotation value for one version of a source (``deleted`` when it is gone)."""
    return f"{kind}/{name}@{version or 'deleted'}"


def poll_verdict(source_labels: dict[str, str] | None, exists: bool, version: str | None,
                 kind: str, name: str, current: str | None) -> str | None:
    """The stamp the poller writes, or None: labelled sources are the watch's job, and an
    unchanged version needs no write."""
    if exists and source_labels is not None and SOURCE_LABEL in source_labels:
        return None
    new = stamp(kind, name, version if exists else None)
    return None if new == current else new


class SourceReader:
    """Reads one ConfigMap or Secret by name, off the event loop (GET only, never a list)."""

    def __init__(self, kube: KubeAPI) -> None:
        self.core = kube.core

    async def labels_and_version(self, kind: str, namespace: str, name: str
                                 ) -> tuple[dict[str, str], str] | None:
        read = (self.core.read_namespaced_config_map if kind == "ConfigMap"
                else self.core.read_namespaced_secret)
        try:
            obj: Any = await asyncio.to_thread(read, name, namespace)
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(obj.metadata.labels or {}), str(obj.metadata.resource_version)


def register_metadata_watch(registry: kopf.OperatorRegistry, kube: KubeAPI,
                            poll_interval: float = 5.0) -> None:
    """Re-reconcile a DatadogSAMLConfig when the ConfigMap or Secret it reads changes."""
    info = SAML_CONFIG
    reader = SourceReader(kube)

    # Which configs read which source. Kept by a watch handler rather than a kopf index:
    # kopf's indexes hold every object back at startup until every object is indexed
    # (see reconcile/handlers.py). A source event before its config was seen changes
    # nothing: the config's own first pass reads the source.
    readers: RefIndex[Source] = RefIndex()

    @kopf.on.event(info.group, info.version, info.plural, registry=registry,
                   id="saml-metadata-readers")
    def track(namespace: str | None, name: str, spec: Any, type: Any, **_: Any) -> None:
        source = None if type == "DELETED" else metadata_source(namespace or "", spec)
        readers.point(namespace or "", name, source)

    async def write(namespace: str, config: str, value: str) -> bool:
        try:
            await kube.patch_annotations(info, namespace, config, {SOURCE_ANNOTATION: value})
        except k8s.ApiException as exc:
            if exc.status != 404:
                raise
            return False
        return True

    async def touch(kind: str, namespace: str | None, name: str | None,
                    version: str | None) -> None:
        if not namespace or not name:
            return
        for config in readers.pointing_at((kind, namespace, name)):
            if await write(namespace, config, stamp(kind, name, version)):
                log.info("%s %s/%s changed: re-checking %s %s", kind, namespace, name,
                         info.kind, config)

    def referenced(kind: str) -> Any:
        """A kopf filter: only labelled objects some config reads run the handler."""
        def when(namespace: str | None, name: str | None, **_: Any) -> bool:
            return bool(readers.pointing_at((kind, namespace or "", name or "")))
        return when

    def version(meta: Any, event_type: Any) -> str | None:
        return None if event_type == "DELETED" else str(meta.get("resourceVersion", ""))

    @kopf.on.startup(registry=registry)
    def labelled_only(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Server-side: the API server streams only labelled ConfigMaps and Secrets.
        settings.watching.label_selectors["v1", "configmaps"] = SOURCE_LABEL
        settings.watching.label_selectors["v1", "secrets"] = SOURCE_LABEL

    @kopf.on.event("v1", "configmaps", registry=registry, id="saml-metadata-configmaps",
                    labels={SOURCE_LABEL: kopf.PRESENT}, when=referenced("ConfigMap"))
    async def config_maps(namespace: str | None, name: str | None, meta: Any, type: Any,
                          **kwargs: Any) -> None:
        await touch("ConfigMap", namespace, name, version(meta, type))

    @kopf.on.event("v1", "secrets", registry=registry, id="saml-metadata-secrets",
                    labels={SOURCE_LABEL: kopf.PRESENT}, when=referenced("Secret"))
    async def secrets(namespace: str | None, name: str | None, meta: Any, type: Any,
                      **kwargs: Any) -> None:
        await touch("Secret", namespace, name, version(meta, type))

    def reads_a_source(namespace: str | None, spec: Any, **_: Any) -> bool:
        """Only configs that read a ConfigMap or Secret get a poll timer: inline metadata
        (and at a thousand clients, a timer task per config) needs none."""
        return metadata_source(namespace or "", spec) is not None

    @kopf.timer(info.group, info.version, info.plural, registry=registry,
                id="saml-metadata-poll", interval=poll_interval, initial_delay=poll_interval,
                when=reads_a_source)
    async def poll(namespace: str | None, name: str, spec: Any, annotations: Any, body: Any,
                   **_: Any) -> None:
        if not namespace:
            return
        key = metadata_source(namespace, spec)
        if key is None:
            return
        kind, ns, source = key
        found = await reader.labels_and_version(kind, ns, source)
        labels, rv = found if found is not None else (None, None)
        value = poll_verdict(labels, found is not None, rv, kind, source,
                             annotations.get(SOURCE_ANNOTATION))
        if value is None or not await write(namespace, name, value):
            return
        log.info("%s %s/%s changed (polled): re-checking %s %s", kind, ns, source,
                 info.kind, name)
        if found is not None:
            await kube.post_event(
                dict(body), "Normal", "MetadataSourceNotLabeled",
                f"{kind} {source} is read every {poll_interval:g} s because it lacks the "
                f"label {SOURCE_LABEL}; add it (kubectl label {kind.lower()} {source} "
                f"{SOURCE_LABEL}=true) for instant, poll-free change notice")
