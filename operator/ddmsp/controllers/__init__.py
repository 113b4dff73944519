"""One thin module per kind: its external client; ``build_reconcilers`` wires them all."""

from __future__ import annotations

from dataclasses import dataclass

from ddmsp.config import OperatorSettings
from ddmsp.controllers.apikey import ApiKeyConnector, ApiKeyReconciler, ScheduledReconciler
from ddmsp.controllers.clientorg import ClientOrgConnector
from ddmsp.controllers.costrefresh import CostRefresher
from ddmsp.controllers.datadog_access import DatadogClients
from ddmsp.controllers.orgconnection import OrgConnectionConnector
from ddmsp.controllers.partner import PartnerConnector
from ddmsp.controllers.role import RoleConnector
from ddmsp.controllers.samlconfig import SamlConnector
from ddmsp.controllers.user import UserConnector
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.resources import (
    API_KEY,
    CLIENT_ORG,
    ORG_CONNECTION,
    PARTNER,
    ROLE,
    SAML_CONFIG,
    USER,
)


@dataclass(frozen=True)
class Controller:
    reconciler: Reconciler
    needs_finalizer: bool
    depends_on_org: str | None = None  # plural of the org kind it waits for via orgRef
    drift_interval: float | None = None  # a Ready object's next check; None: the setting's
    # Objects of the kind judge each other (a partner's `default` against the others'):
    # a change or deletion of one wakes the rest.
    wakes_peers: bool = False


def build_controllers(
    settings: OperatorSettings, kube: KubeAPI, clients: DatadogClients,
    refresher: CostRefresher | None = None,
) -> list[Controller]:
    return [
        # The org's finalizer: it outlives its dependents and escrows its keys (deletion).
        Controller(ScheduledReconciler(CLIENT_ORG, ClientOrgConnector(settings, clients,
                                                                      refresher), kube),
                   needs_finalizer=True),
        Controller(Reconciler(ROLE, RoleConnector(settings, clients), kube),
                   needs_finalizer=True, depends_on_org=CLIENT_ORG.plural),
        Controller(Reconciler(SAML_CONFIG, SamlConnector(settings, clients), kube),
                   needs_finalizer=True, depends_on_org=CLIENT_ORG.plural),
        Controller(Reconciler(USER, UserConnector(settings, clients), kube),
                   needs_finalizer=True, depends_on_org=CLIENT_ORG.plural),
        Controller(ApiKeyReconciler(API_KEY, ApiKeyConnector(settings, clients), kube),
                   needs_finalizer=True, depends_on_org=CLIENT_ORG.plural),
        Controller(Reconciler(ORG_CONNECTION, OrgConnectionConnector(settings, clients), kube),
                   needs_finalizer=True, depends_on_org=CLIENT_ORG.plural),
        # Cluster-scoped and observe-only: nothing in Datadog to clean up, so no finalizer;
        # its keys are re-checked as often as the cost view is refreshed (as before).
        Controller(Reconciler(PARTNER, PartnerConnector(settings, clients, refresher), kube),
                   needs_finalizer=False, drift_interval=settings.cost_refresh_interval,
                   wakes_peers=True),
    ]
