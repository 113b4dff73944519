"""``spec.settings`` of a DatadogClientOrg: compare with Datadog, and apply what differs.

Called from ``ClientOrgExternal`` (controllers/clientorg.py): its observe hands the org it
already read (``GET /api/v1/org/{public_id}``, which carries the v1 settings) to
``observe_settings``, which adds one ``GET /api/v2/org_configs`` only when the spec sets any
org config; its update calls ``apply_settings`` with the plan. Everything uses the org's own
keys (a partner's keys cannot read or change a child org). Settings the spec leaves unset are
neither compared nor written, and a pass where nothing differs writes nothing.

Fleet defaults: ``effective_settings`` lays the client's own ``spec.settings`` over its
partner's ``spec.defaults.settings`` field by field (the partner recorded in
``status.partner``), and says where each value came from (``status.settingsSources``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pydantic

from ddmsp.controllers.partners import get_partner
from ddmsp.datadog import DatadogClient, Org, ValidationError
from ddmsp.datadog.errors import org_not_accessible
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources.orgsettings import OrgSettingsSpec, alias_of, field_alias, spec_path
from ddmsp.resources.partner import DatadogPartnerSpec

OWN = "spec"
PARTNER_PREFIX = "DatadogPartner/"


@dataclass
class SettingsPlan:
    """What differs: v1 settings for one PUT, org configs for one PATCH each."""

    v1: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, Any] = field(default_factory=dict)
    diff: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # camelCase field -> source

    def __bool__(self) -> bool:
        return bool(self.v1 or self.configs)

    def where(self, name: str) -> str:
        """The field of a v1 key or config name, with the partner default it comes from."""
        source = self.sources.get(field_alias(name), OWN)
        if source == OWN:
            return spec_path(name)
        return f"settings.{field_alias(name)} (default of {source} spec.defaults.settings)"


# One read of a partner serves all its clients for this long: a fleet's drift passes cost one
# Kubernetes GET per partner per PARTNER_TTL, not one per client (a changed default shows at
# most this much later).
PARTNER_TTL = 5.0
_partner_reads: dict[str, tuple[float, OrgSettingsSpec | None]] = {}


async def partner_defaults(kube: KubeAPI, partner: str | None) -> OrgSettingsSpec | None:
    """``spec.defaults.settings`` of the DatadogPartner recorded in ``status.partner``."""
    if not partner or not partner.startswith(PARTNER_PREFIX):
        return None
    now = time.monotonic()
    seen = _partner_reads.get(partner)
    if seen is not None and now - seen[0] < PARTNER_TTL:
        return seen[1]
    body = await get_partner(kube, partner[len(PARTNER_PREFIX):])
    defaults: OrgSettingsSpec | None = None
    if body is not None:
        try:
            spec = DatadogPartnerSpec.model_validate(body.get("spec") or {})
        except pydantic.ValidationError:
            spec = None  # the partner's own status reports a spec it cannot read
        if spec is not None and spec.defaults is not None:
            defaults = spec.defaults.settings
    _partner_reads[partner] = (now, defaults)
    return defaults


def effective_settings(own: OrgSettingsSpec | None, defaults: OrgSettingsSpec | None,
                       partner: str | None) -> tuple[OrgSettingsSpec | None, dict[str, str]]:
    """The settings to apply, the client's own winning field by field, and their sources."""
    mine = own.model_dump(exclude_none=True) if own is not None else {}
    base = defaults.model_dump(exclude_none=True) if defaults is not None else {}
    merged = {**base, **mine}
    if not merged:
        return None, {}
    sources = {alias_of(f): OWN if f in mine else str(partner) for f in merged}
    return OrgSettingsSpec.model_validate(merged), sources


def _show(value: Any) -> str:
    return "unset" if value is None else repr(value)


async def observe_settings(dd: DatadogClient, org: Org, spec: OrgSettingsSpec | None,
                           sources: dict[str, str] | None = None) -> SettingsPlan:
    """Compare the settings with the org's (``org`` as just read with its own keys)."""
    plan = SettingsPlan(sources=dict(sources or {}))
    if spec is None:
        return plan
    have_v1 = org.settings.model_dump() if org.settings is not None else {}
    for key, want in spec.wanted_v1().items():
        have = have_v1.get(key)
        if have != want:
            plan.v1[key] = want
            plan.diff.append(f"{plan.where(key)} is {_show(have)} in Datadog, spec wants "
                             f"{_show(want)}")
    wanted = spec.wanted_configs()
    if not wanted:
        return plan
    have_configs = {c.name: c.value for c in await dd.list_org_configs()}
    for name, want in wanted.items():
        if name not in have_configs:
            raise Blocked(
                "OrgConfigUnavailable",
                f"{plan.where(name)}: org {org.public_id} offers no org config {name!r} "
                "(GET /api/v2/org_configs does not list it); remove the field from the spec",
            )
        have = have_configs[name]
        if have != want:
            plan.configs[name] = want
            plan.diff.append(f"{plan.where(name)} is {_show(have)} in Datadog, spec wants "
                             f"{_show(want)}")
    return plan


async def apply_settings(dd: DatadogClient, public_id: str, plan: SettingsPlan,
                         name: str | None = None) -> None:
    """Write what the plan says differs: one PUT (with ``name`` when it is being set too)
    for the v1 settings, one PATCH per org config. A refused value becomes a condition
    naming the spec field (admission cannot know every value Datadog refuses, e.g. a time
    zone it does not offer)."""
    if plan.v1 or name is not None:
        try:
            await dd.update_org(public_id, plan.v1, name=name)
        except ValidationError as exc:
            if not plan.v1 or org_not_accessible(exc):
                raise
            fields = ", ".join(plan.where(k) for k in plan.v1)
            raise Blocked("InvalidSetting", f"Datadog refused {fields} for org {public_id} "
                          f"({exc.status}: {'; '.join(exc.api_errors) or exc.message}); fix "
                          "the spec") from None
    for config, value in plan.configs.items():
        try:
            await dd.update_org_config(config, value)
        except ValidationError as exc:
            raise Blocked(
                "InvalidSetting",
                f"Datadog refused {plan.where(config)} = {value!r} for org {public_id} "
                f"({exc.status}: {'; '.join(exc.api_errors) or exc.message}); fix the spec",
            ) from None
