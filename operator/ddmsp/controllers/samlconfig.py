"""DatadogSAMLConfig: the external client for SAML single sign-on of one org.

One pass reads the metadata source (ConfigMap, Secret or inline), parses it safely
(``ddmsp.saml.metadata``), reads the org's settings and authn mappings, and lists what
differs. Metadata is uploaded only when its SHA-256 differs from the last upload (or
Datadog lost it); only settings the spec sets are sent; spec.roleMappings, when set, is
the exact set of the org's authn mappings (a mapping whose role changes is PATCHed in
place). An org where Datadog says SAML cannot be enabled stalls (``SAMLNotAvailable``)
instead of retrying. A delete switches off only what this config switched on
(``status.turnedOn``).

A change of a referenced ConfigMap or Secret is noticed by ``register_metadata_watch``
(``ddmsp.controllers.metadata_sources``: a watch of labelled sources only, a by-name poll
of unlabelled ones), which wakes the config in memory when the source's resourceVersion
differs from the one its last pass read (no write to the config).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import DatadogConnector
from ddmsp.controllers.metadata_sources import SEEN
from ddmsp.controllers.metadata_sources import metadata_source as metadata_source
from ddmsp.controllers.metadata_sources import (
    register_metadata_watch as register_metadata_watch,
)
from ddmsp.controllers.orgref import OrgTarget, act_in_org
from ddmsp.controllers.role import org_identity
from ddmsp.datadog import AuthNMapping, NotFoundError, Org, OrgSettings
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.kube import decode_secret
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources.role import ROLE
from ddmsp.resources.samlconfig import LOCKOUT_MESSAGE, DatadogSAMLConfigSpec
from ddmsp.saml import metadata as md

log = logging.getLogger(__name__)

CERT_WARNING_DAYS = 30
SWITCHES = (("saml", "enabled"), ("saml_strict_mode", "strictMode"))
Triple = tuple[str, str, str]


# ------------------------------------------------------------------ pure helpers
def settings_patch(spec: DatadogSAMLConfigSpec, actual: OrgSettings) -> tuple[dict[str, Any],
                                                                             list[str]]:
    """The settings to send (only those the spec sets and that differ) and the differences."""
    patch: dict[str, Any] = {}
    diff: list[str] = []

    def flag(field: str, key: str, want: bool | None, have: Any) -> None:
        current = getattr(have, "enabled", None) if have is not None else None
        if want is not None and current is not want:
            patch[key] = {"enabled": want}
            diff.append(f"{field} is {_show(current)}, the spec wants {_show(want)}")

    flag("enabled", "saml", spec.enabled, actual.saml)
    flag("strictMode", "saml_strict_mode", spec.strict_mode, actual.saml_strict_mode)
    flag("idpInitiatedLogin", "saml_idp_initiated_login", spec.idp_initiated_login,
         actual.saml_idp_initiated_login)
    auto = spec.autocreate_users
    if auto is not None:
        have = actual.saml_autocreate_users_domains
        domains: dict[str, Any] = {}
        if (have.enabled if have else None) is not auto.enabled:
            domains["enabled"] = auto.enabled
            diff.append(f"autocreateUsers.enabled is {_show(have.enabled if have else None)}, "
                        f"the spec wants {_show(auto.enabled)}")
        current = list(have.domains) if have else []
        if auto.domains is not None and sorted(current) != sorted(auto.domains):
            domains["domains"] = list(auto.domains)
            diff.append(f"autocreateUsers.domains are {current}, the spec wants "
                        f"{list(auto.domains)}")
        if domains:
            patch["saml_autocreate_users_domains"] = {
                "enabled": auto.enabled, **({"domains": list(auto.domains)}
                                            if auto.domains is not None else {}),
            }
        if auto.access_role is not None and actual.saml_autocreate_access_role != \
                auto.access_role:
            patch["saml_autocreate_access_role"] = auto.access_role
            diff.append(f"autocreateUsers.accessRole is "
                        f"{_show(actual.saml_autocreate_access_role)}, the spec wants "
                        f"{auto.access_role}")
    return patch, diff


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    return str(value).lower() if isinstance(value, bool) else str(value)


def mapping_plan(desired: list[Triple], actual: list[AuthNMapping]) -> tuple[
        list[Triple], list[tuple[AuthNMapping, str]], list[AuthNMapping]]:
    """(to create, to re-point at another role, to delete) so that the org holds exactly
    ``desired``. A mapping whose attribute stays and whose role changes is updated in place
    (one PATCH), so its users never go through a moment without the mapping."""
    missing = list(dict.fromkeys(desired))
    extra: list[AuthNMapping] = []
    for m in actual:
        triple = (m.attribute_key, m.attribute_value, m.role_id or "")
        if triple in missing:
            missing.remove(triple)
        else:
            extra.append(m)
    repoint: list[tuple[AuthNMapping, str]] = []
    for triple in list(missing):
        key, value, role_id = triple
        same = next((m for m in extra if (m.attribute_key, m.attribute_value) == (key, value)),
                    None)
        if same is not None:
            repoint.append((same, role_id))
            extra.remove(same)
            missing.remove(triple)
    return missing, repoint, extra


def certificate_notice(facts: md.IdpMetadata, now: datetime | None = None) -> str | None:
    """A warning when the earliest signing certificate expires within 30 days."""
    expiry = facts.earliest_expiry
    if expiry is None:
        return None
    now = now or datetime.now(UTC)
    left = expiry - now
    if left > timedelta(days=CERT_WARNING_DAYS):
        return None
    cert = min(facts.certificates, key=lambda c: c.not_after)
    if left.total_seconds() <= 0:
        return (f"the IdP signing certificate {cert.subject!r} expired at "
                f"{md.rfc3339(expiry)}: SAML logins fail; update the IdP metadata")
    return (f"the IdP signing certificate {cert.subject!r} expires at {md.rfc3339(expiry)} "
            f"(in {left.days} days): rotate it at the IdP and update the metadata")


async def role_with_id(ctx: ReconcileContext, name: str, poll: float) -> dict[str, Any]:
    """The status of DatadogRole ``name`` (from the watch-fed cache), once it has a role ID."""
    body = await ctx.kube.get(ROLE, ctx.obj.namespace, name)
    status: dict[str, Any] = (body or {}).get("status") or {}
    if not status.get("roleId"):
        raise Waiting("RoleNotReady", f"waiting for DatadogRole {name} to have a role "
                      "in Datadog (status.roleId)", delay=poll)
    return status


# ------------------------------------------------------------------ engine side
class SamlConnector(DatadogConnector):
    applied_keys = ("metadataSha256",)  # drift counts once uploaded (reconcile/drift.py)

    def claims(self, obj: ManagedObject) -> list[str]:
        """An org has one SAML configuration: two configs for one org conflict."""
        return [f"saml/{org_identity(obj.namespace, obj.spec)}"]

    async def connect(self, ctx: ReconcileContext) -> SamlExternal:
        spec: DatadogSAMLConfigSpec = ctx.obj.spec
        if not ctx.obj.deleting:
            # Roles first: a role without an ID is also what an org that is not Ready yet
            # looks like from here, so a config applied with its org and roles waits under
            # one reason instead of two (one status write fewer), and costs no call.
            for mapping in spec.role_mappings or []:
                if mapping.role_ref is not None:
                    await role_with_id(ctx, mapping.role_ref.name, self.settings.wait_poll)
        target = await act_in_org(ctx, spec, self.settings, self.clients, public_id_needed=True)
        assert target.public_id is not None
        return SamlExternal(ctx, target, target.public_id, self.settings)


class SamlExternal:
    def __init__(self, ctx: ReconcileContext, target: OrgTarget, public_id: str,
                 settings: OperatorSettings) -> None:
        self.ctx = ctx
        self.obj = ctx.obj
        self.spec: DatadogSAMLConfigSpec = ctx.obj.spec
        self.dd = target.dd
        self.public_id = public_id
        self.settings = settings
        self.meta: md.IdpMetadata | None = None
        self.upload = False
        self.patch: dict[str, Any] = {}
        # The org as this pass's settings update answered it (after any metadata upload):
        # the observe right after the update reads it from here, not with another GET.
        # Datadog answers PUT /api/v1/org/{public_id} with the whole org, SAML settings
        # included (v1 spec OrgResponse; DataDog/documentation result.api-org-update.sh).
        self._answered_org: Org | None = None
        self.to_create: list[Triple] = []
        self.to_repoint: list[tuple[AuthNMapping, str]] = []
        self.to_delete: list[AuthNMapping] = []
        self.left_on_told = False

    # ----------------------------------------------------------- inputs
    async def _metadata_bytes(self) -> bytes | str:
        source = self.spec.idp_metadata
        ns = self.obj.namespace
        if source.inline is not None:
            return source.inline
        found: tuple[dict[str, str], str] | None
        if source.config_map_key_ref is not None:
            ref, kind = source.config_map_key_ref, "ConfigMap"
            found = await self.ctx.kube.read_config_map_data(ns, ref.name)
        else:
            assert source.secret_key_ref is not None
            ref, kind = source.secret_key_ref, "Secret"
            secret = await self.ctx.kube.read_secret(ns, ref.name)
            found = None if secret is None else (decode_secret(secret), str(
                (secret.metadata.resource_version if secret.metadata else None) or ""))
        # the version this pass acts on: a later one wakes the config (metadata_sources.py)
        SEEN.record((kind, ns, ref.name), found[1] if found else None)
        data = found[0] if found else None
        if data is None:
            raise Waiting("MetadataMissing", f"{kind} {ns}/{ref.name} with the IdP metadata "
                          "does not exist yet; create it (it is picked up at once)", delay=60)
        if not data.get(ref.key):
            raise Waiting("MetadataMissing", f"{kind} {ns}/{ref.name} has no key "
                          f"{ref.key!r} with the IdP metadata; add it", delay=60)
        return data[ref.key]

    async def _load_metadata(self) -> md.IdpMetadata:
        try:
            facts = md.parse(await self._metadata_bytes())
        except md.MetadataError as exc:
            raise Blocked(exc.reason, exc.message) from None
        certs = [{"subject": c.subject, "notAfter": md.rfc3339(c.not_after)}
                 for c in facts.certificates]
        idp: dict[str, Any] = {"entityId": facts.entity_id, "ssoUrl": facts.sso_url,
                               "signingCertificates": certs}
        if facts.earliest_expiry is not None:
            idp["certificateExpires"] = md.rfc3339(facts.earliest_expiry)
        self.obj.status["idp"] = idp
        notice = certificate_notice(facts)
        if notice and self.obj.status.get("certificateWarning") != idp["certificateExpires"]:
            await self.ctx.event("Warning", "CertificateExpiring", notice)
            self.obj.status["certificateWarning"] = idp["certificateExpires"]
        return facts

    async def _desired_mappings(self, existing: list[AuthNMapping]) -> list[Triple]:
        """(key, value, role ID) per spec mapping. Role names are resolved from the roles
        the mapping listing already includes; the org's roles are listed only for a name
        no mapping points at yet (so a converged config costs no role listing)."""
        assert self.spec.role_mappings is not None
        mapped = {m.role_name: m.role_id for m in existing if m.role_name and m.role_id}
        by_name: dict[str, str] | None = None
        out: list[Triple] = []
        for i, mapping in enumerate(self.spec.role_mappings):
            if mapping.role_ref is not None:
                role_id = await self._role_ref_id(mapping.role_ref.name)
            else:
                assert mapping.role_name is not None
                found = mapped.get(mapping.role_name)
                if found is None and by_name is None:
                    by_name = {r.name: r.id for r in await self.dd.list_roles()}
                if found is None and by_name is not None:
                    found = by_name.get(mapping.role_name)
                if found is None:
                    raise Waiting("RoleNotFound", f"spec.roleMappings[{i}].roleName "
                                  f"{mapping.role_name!r}: no role of that name in org "
                                  f"{self.public_id}; waiting for it", delay=30)
                role_id = found
            out.append((mapping.attribute_key, mapping.attribute_value, role_id))
        return out

    async def _role_ref_id(self, name: str) -> str:
        status = await role_with_id(self.ctx, name, self.settings.wait_poll)
        if status.get("orgPublicId") and status["orgPublicId"] != self.public_id:
            raise Blocked("RoleInAnotherOrg", f"DatadogRole {name} lives in org "
                          f"{status['orgPublicId']}, this SAML config in {self.public_id}: "
                          "point both at the same org")
        return str(status["roleId"])

    # ----------------------------------------------------------- contract
    async def observe(self) -> Observation:
        if self.obj.deleting:  # what this config's delete would still undo
            patch, mappings, left_on = await self._undo_plan()
            if left_on and not self.left_on_told:
                self.left_on_told = True
                await self.ctx.event("Warning", "SAMLLeftOn",
                                     "SAML stays on: strict mode (not switched on by this "
                                     "config) is on, and SAML off under strict mode would "
                                     "lock everyone out")
            return Observation(exists=bool(patch or mappings),
                               message=f"still to undo: {sorted(patch)} and "
                               f"{len(mappings)} authn mapping(s)")
        if self.spec.strict_mode and not self.spec.acknowledge_lockout_risk:
            raise Blocked("LockoutRiskNotAcknowledged", LOCKOUT_MESSAGE)
        self.meta = meta = await self._load_metadata()
        for mapping in self.spec.role_mappings or []:
            if mapping.role_ref is not None:  # a wait for a role costs no Datadog call
                await self._role_ref_id(mapping.role_ref.name)
        answered, self._answered_org = self._answered_org, None
        org = answered or await self.dd.get_org(self.public_id)
        actual = org.settings or OrgSettings()
        if actual.saml_can_be_enabled is False:
            raise Blocked("SAMLNotAvailable", saml_not_available(self.public_id))
        status = self.obj.status
        status["loginUrl"] = actual.saml_login_url
        status["enabled"] = bool(actual.saml and actual.saml.enabled)
        status["strictMode"] = bool(actual.saml_strict_mode and actual.saml_strict_mode.enabled)
        diff: list[str] = []
        drift: list[str] = []
        observe_only = self.obj.management_policy == "ObserveOnly"
        if status.get("metadataSha256") != meta.sha256 and not observe_only:
            self.upload = True
            diff.append(f"IdP metadata {meta.sha256[:12]} is not uploaded yet"
                        + (" (UTF-8 BOM stripped)" if meta.bom_stripped else ""))
        elif not actual.saml_idp_metadata_uploaded or (  # ObserveOnly compares the IdP only
                actual.saml_idp_endpoint and actual.saml_idp_endpoint != meta.sso_url):
            self.upload = True
            drift.append(f"the IdP in Datadog ({actual.saml_idp_endpoint or 'none'}) is not "
                         f"the one in the metadata ({meta.sso_url})")
        self.patch, setting_diff = settings_patch(self.spec, actual)
        drift += setting_diff
        if self.spec.role_mappings is not None:
            existing = await self.dd.list_authn_mappings()
            desired = await self._desired_mappings(existing)
            self.to_create, self.to_repoint, self.to_delete = mapping_plan(desired, existing)
            status["roleMappings"] = _applied(existing)
            drift += [f"authn mapping {k}={v} -> role {r} is missing"
                      for k, v, r in self.to_create]
            drift += [f"authn mapping {m.attribute_key}={m.attribute_value} points at role "
                      f"{m.role_id}, the spec wants {r}" for m, r in self.to_repoint]
            drift += [f"authn mapping {m.attribute_key}={m.attribute_value} -> role "
                      f"{m.role_id} is not in the spec" for m in self.to_delete]
        diff += drift
        return Observation(
            exists=True, up_to_date=not diff, diff=diff, drift=drift,
            phase="Drifted" if diff else "Ready",
            message=f"SAML for org {self.public_id}: IdP {meta.entity_id}",
        )

    async def create(self) -> None:
        """Never called: a SAML configuration always exists once the org does."""

    async def update(self, observation: Observation) -> None:
        assert self.meta is not None
        status = self.obj.status
        if self.upload:
            await self.dd.upload_idp_metadata(self.public_id, self.meta.content)
            # Recorded with the next status write, not one of its own: an upload whose
            # record a crash lost is repeated, and an upload is idempotent.
            status["metadataSha256"] = self.meta.sha256
            status["uploadedAt"] = now_rfc3339()
            await self.ctx.event("Normal", "MetadataUploaded",
                                 f"uploaded IdP metadata {self.meta.sha256[:12]} "
                                 f"({self.meta.entity_id})")
        if self.patch:
            self._answered_org = await self.dd.update_org(self.public_id, self.patch)
            self._note_switches(self.patch)
            await self.ctx.save_status()  # a delete must know what it turned on, even after a crash
        # Re-point first, then add, then remove: a user's access never has a gap.
        for mapping, role_id in self.to_repoint:
            await self.dd.update_authn_mapping(mapping.id, role_id=role_id)
        for key, value, role_id in self.to_create:
            await self.dd.create_authn_mapping(key, value, role_id)
        for mapping in self.to_delete:
            with contextlib.suppress(NotFoundError):
                await self.dd.delete_authn_mapping(mapping.id)

    def _note_switches(self, patch: dict[str, Any]) -> None:
        """Remember which of SAML and strict mode this config switched on (and forget those
        it switched off), so that a delete switches off only what this config turned on."""
        turned_on = list(self.obj.status.get("turnedOn") or [])
        for key, name in SWITCHES:
            enabled = (patch.get(key) or {}).get("enabled")
            if enabled is True and name not in turned_on:
                turned_on.append(name)
            elif enabled is False and name in turned_on:
                turned_on.remove(name)
        self.obj.status["turnedOn"] = turned_on

    async def _undo_plan(self) -> tuple[dict[str, Any], list[str], bool]:
        """(org settings patch, IDs of recorded authn mappings still in Datadog, whether SAML
        must stay on under a strict mode this config does not own): what ``delete`` does,
        and what the engine's observation after it must find empty."""
        turned_on = set(self.obj.status.get("turnedOn") or [])
        patch: dict[str, Any] = {}
        left_on = False
        if turned_on:
            org = await self.dd.get_org(self.public_id)
            actual = org.settings or OrgSettings()
            strict_on = bool(actual.saml_strict_mode and actual.saml_strict_mode.enabled)
            if strict_on and "strictMode" in turned_on:
                patch["saml_strict_mode"] = {"enabled": False}
                strict_on = False
            if actual.saml and actual.saml.enabled and "enabled" in turned_on:
                if strict_on:
                    left_on = True
                else:
                    patch["saml"] = {"enabled": False}
        mappings: list[str] = []
        recorded = {str(m["id"]) for m in self.obj.status.get("roleMappings") or []
                    if isinstance(m, dict) and m.get("id")}
        if self.spec.role_mappings is not None and recorded:
            mappings = sorted(recorded & {m.id for m in await self.dd.list_authn_mappings()})
        return patch, mappings, left_on

    async def delete(self) -> None:
        """Switch off what this config switched on; delete the authn mappings it manages.

        SAML or strict mode that was on before this config (or that someone else turned on)
        stays on. SAML is not switched off under a strict mode this config does not own:
        that would leave nobody able to log in."""
        patch, mappings, _ = await self._undo_plan()
        if patch:
            await self.dd.update_org(self.public_id, patch)
        for mapping_id in mappings:
            with contextlib.suppress(NotFoundError):
                await self.dd.delete_authn_mapping(mapping_id)


def saml_not_available(public_id: str) -> str:
    """The condition message when Datadog will not let SAML be enabled on an org."""
    return (f"Datadog reports saml_can_be_enabled: false for org {public_id}: SAML cannot be "
            "enabled on this org, so nothing was uploaded or changed. Ask Datadog support "
            f"to enable SAML for org {public_id}; then change or re-apply this resource to "
            "try again")


def _applied(mappings: list[AuthNMapping]) -> list[dict[str, str]]:
    return [{"id": m.id, "attributeKey": m.attribute_key, "attributeValue": m.attribute_value,
             "roleId": m.role_id or ""} for m in mappings]
