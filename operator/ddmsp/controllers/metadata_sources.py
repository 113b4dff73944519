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

Either way a change wakes the configs that read the source in memory (the engine's queue,
as an org's readiness wakes its dependents: reconcile/handlers.py), with no write to the
config: each source's last seen resourceVersion is kept here (``SEEN``), fed by the watch,
the poll and every pass that reads the source. A first sighting (the operator's start, a
new config) wakes nobody: the config's own pass reads the source anyway, and a change
after that pass is a new version against the one it recorded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from kubernetes import client as k8s

from ddmsp import API_GROUP
from ddmsp.reconcile.handlers import Runtime
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.refindex import RefIndex
from ddmsp.resources.samlconfig import SAML_CONFIG

log = logging.getLogger(__name__)

SOURCE_LABEL = f"{API_GROUP}/idp-metadata"
Source = tuple[str, str, str]


def metadata_source(namespace: str, spec: Any) -> Source | None:
    """(kind, namespace, name) of the ConfigMap or Secret a SAML config reads, if any."""
    source = (spec or {}).get("idpMetadata") or {}
    for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        ref = source.get(field)
        if isinstance(ref, dict) and ref.get("name"):
            return kind, namespace, str(ref["name"])
    return None


class SourceVersions:
    """The last seen resourceVersion of each source (None: deleted), from the watch and the
    poll alike; ``changed`` says whether a sighting is news to the configs reading it."""

    def __init__(self) -> None:
        self._seen: dict[Source, str | None] = {}

    def record(self, source: Source, version: str | None) -> None:
        """The version a config's pass just read (and so acted on): no news to anyone."""
        self._seen[source] = version

    def changed(self, source: Source, version: str | None) -> bool:
        """Record a sighting by the watch or the poll; True when it differs from the last
        one or from what a pass read (never a first sighting: the configs' own passes read
        the source)."""
        known = source in self._seen
        before = self._seen.get(source)
        self._seen[source] = version
        return known and before != version

    def forget(self, source: Source) -> None:
        """No config reads it any more: its next sighting is a first one."""
        self._seen.pop(source, None)


# The one record per process: the watch and the poll compare with it, passes feed it.
SEEN = SourceVersions()


def polled_by_name(labels: dict[str, str] | None) -> bool:
    """Whether the poll is the source's only notice (labelled ones are the watch's)."""
    return labels is None or SOURCE_LABEL not in labels


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


def register_metadata_watch(registry: kopf.OperatorRegistry, kube: KubeAPI, runtime: Runtime,
                            poll_interval: float = 5.0) -> None:
    """Wake a DatadogSAMLConfig when the ConfigMap or Secret it reads changes."""
    info = SAML_CONFIG
    reader = SourceReader(kube)
    versions = SEEN

    # Which configs read which source. Kept by a watch handler rather than a kopf index:
    # kopf's indexes hold every object back at startup until every object is indexed
    # (see reconcile/handlers.py). A source event before its config was seen changes
    # nothing: the config's own first pass reads the source.
    readers: RefIndex[Source] = RefIndex()

    @kopf.on.event(info.group, info.version, info.plural, registry=registry,
                   id="saml-metadata-readers")
    def track(namespace: str | None, name: str, spec: Any, type: Any, **_: Any) -> None:
        source = None if type == "DELETED" else metadata_source(namespace or "", spec)
        before = readers.targets_of(namespace or "", name)
        readers.point(namespace or "", name, source)
        for left in before:
            if not readers.pointing_at(left):
                versions.forget(left)

    def touch(kind: str, namespace: str | None, name: str | None, version: str | None,
              how: str = "") -> list[str]:
        """A sighting of a source: the configs reading it are woken when it changed."""
        if not namespace or not name:
            return []
        source = (kind, namespace, name)
        if not versions.changed(source, version):
            return []
        woken = sorted(readers.pointing_at(source))
        for config in woken:
            runtime.enqueue(info.plural, (namespace, config))
            log.info("%s %s/%s changed%s: re-checking %s %s", kind, namespace, name, how,
                     info.kind, config)
        return woken

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
        touch("ConfigMap", namespace, name, version(meta, type))

    @kopf.on.event("v1", "secrets", registry=registry, id="saml-metadata-secrets",
                    labels={SOURCE_LABEL: kopf.PRESENT}, when=referenced("Secret"))
    async def secrets(namespace: str | None, name: str | None, meta: Any, type: Any,
                      **kwargs: Any) -> None:
        touch("Secret", namespace, name, version(meta, type))

    def reads_a_source(namespace: str | None, spec: Any, **_: Any) -> bool:
        """Only configs that read a ConfigMap or Secret get a poll timer: inline metadata
        (and at a thousand clients, a timer task per config) needs none."""
        return metadata_source(namespace or "", spec) is not None

    @kopf.timer(info.group, info.version, info.plural, registry=registry,
                id="saml-metadata-poll", interval=poll_interval, initial_delay=poll_interval,
                when=reads_a_source)
    async def poll(namespace: str | None, name: str, spec: Any, body: Any, **_: Any) -> None:
        if not namespace:
            return
        key = metadata_source(namespace, spec)
        if key is None:
            return
        kind, ns, source = key
        found = await reader.labels_and_version(kind, ns, source)
        labels, rv = found if found is not None else (None, None)
        if not polled_by_name(labels):
            return  # labelled: the watch notices its changes
        if not touch(kind, ns, source, rv, " (polled)") or found is None:
            return
        await kube.post_event(
            dict(body), "Normal", "MetadataSourceNotLabeled",
            f"{kind} {source} is read every {poll_interval:g} s because it lacks the "
            f"label {SOURCE_LABEL}; add it (kubectl label {kind.lower()} {source} "
            f"{SOURCE_LABEL}=true) for instant, poll-free change notice")
