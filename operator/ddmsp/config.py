"""Operator settings in one place: flags override environment variables override defaults."""

from __future__ import annotations

import argparse
import os
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class OperatorSettings(BaseModel):
    """Everything `ddmsp run` can be told; each field names its environment variable."""

    namespaces: list[str] = Field(
        default_factory=list, description="DDMSP_NAMESPACES (comma list); empty = all"
    )
    datadog_url: str | None = Field(
        default=None,
        description="DDMSP_DATADOG_URL: one API base URL for every site (a simulator, a proxy)",
    )
    partner_secret: str | None = Field(
        default=None,
        description="DDMSP_PARTNER_SECRET: namespace/name of the default partner credentials",
    )
    partner_api_key: SecretStr | None = Field(default=None, description="DDMSP_PARTNER_API_KEY")
    partner_app_key: SecretStr | None = Field(default=None, description="DDMSP_PARTNER_APP_KEY")
    default_partner_namespaces: list[str] = Field(
        default_factory=list,
        description="DDMSP_DEFAULT_PARTNER_NAMESPACES (comma list): namespaces whose "
        "DatadogClientOrgs may use the operator's default partner credentials; '*' = all. "
        "Empty: only the namespace of --partner-secret (env keys: none)",
    )
    cost_refresh_interval: float = Field(
        default=3600.0, ge=10,
        description="DDMSP_COST_REFRESH_INTERVAL (s): cost and usage refresh per partner",
    )
    drift_interval: float = Field(default=600.0, gt=0, description="DDMSP_DRIFT_INTERVAL (s)")
    wait_poll: float = Field(default=15.0, gt=0, description="DDMSP_WAIT_POLL: dependency waits")
    permission_recheck: float = Field(
        default=30.0, gt=0,
        description="DDMSP_PERMISSION_RECHECK (s): after Datadog refused a permission (403), "
        "ask again no sooner than this (a human has to grant it first)",
    )
    create_settle_seconds: float = Field(
        default=60.0, ge=0,
        description="DDMSP_CREATE_SETTLE_SECONDS: after an interrupted org create, wait this "
        "long before concluding from the org list that nothing was created",
    )
    metadata_poll: float = Field(
        default=5.0, gt=0,
        description="DDMSP_METADATA_POLL (s): how often an IdP metadata ConfigMap/Secret "
        "without the label ddmsp.io/idp-metadata is re-read by name",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="DDMSP_LOG_FORMAT: text (one line, [namespace/name] prefix) or json (one "
        "object per line with an `object` field naming the Kubernetes object)",
    )
    verbose: bool = Field(
        default=False, description="DDMSP_VERBOSE: DEBUG lines too (every pass and timer)"
    )
    worker_limit: int = Field(default=64, gt=0, description="DDMSP_WORKER_LIMIT")
    kube_threads: int = Field(default=32, gt=0, description="DDMSP_KUBE_THREADS")
    liveness: str | None = Field(
        default="http://0.0.0.0:8080/healthz", description="DDMSP_LIVENESS ('' disables)"
    )
    metrics_port: int | None = Field(default=9090, description="DDMSP_METRICS_PORT (0 disables)")
    metrics_secure: bool = Field(
        default=True,
        description="DDMSP_METRICS_SECURE: serve /metrics over HTTPS to callers whose bearer "
        "token may get the non-resource URL /metrics (TokenReview + SubjectAccessReview); "
        "false: plain HTTP on 127.0.0.1 only (local runs, a proxy sidecar)",
    )
    metrics_cert_dir: str | None = Field(
        default=None,
        description="DDMSP_METRICS_CERT_DIR: directory with tls.crt and tls.key serving "
        "/metrics (re-read when they change); unset: self-signed at start",
    )
    readiness_port: int | None = Field(
        default=None, description="DDMSP_READINESS_PORT: serve /readyz here (0 or unset: off)"
    )
    kubeconfig: str | None = Field(default=None, description="KUBECONFIG")
    leader_election: bool = Field(
        default=True,
        description="DDMSP_LEADER_ELECTION: hold a Lease before acting, so a second "
        "operator process against the same objects waits instead of racing",
    )
    leader_election_namespace: str | None = Field(
        default=None,
        description="DDMSP_LEADER_ELECTION_NAMESPACE: where the Lease lives (default: "
        "POD_NAMESPACE, else the first watched namespace, else default)",
    )
    leader_election_id: str = Field(
        default="ddmsp-operator",
        description="DDMSP_LEADER_ELECTION_ID: the Lease's name (one per release)",
    )
    lease_duration: float = Field(
        default=15.0, gt=0, description="DDMSP_LEASE_DURATION (s): a dead leader's Lease "
        "is taken over after this long")
    backoff_cap: float = Field(
        default=300.0, gt=0,
        description="DDMSP_BACKOFF_CAP (s): the longest wait between retries of an object "
        "that waits or failed for a reason time can fix",
    )
    restart_spread: float = Field(
        default=60.0, ge=0,
        description="DDMSP_RESTART_SPREAD (s): after a restart, objects already Ready are "
        "re-checked spread over this long instead of all at once",
    )
    shutdown_timeout: float = Field(
        default=30.0, ge=0,
        description="DDMSP_SHUTDOWN_TIMEOUT (s): at shutdown, wait this long for passes in "
        "flight (an org create and its Secret write) to finish",
    )
    escrow_namespace: str | None = Field(
        default=None,
        description="DDMSP_ESCROW_NAMESPACE: where the keys of a deleted DatadogClientOrg are "
        "kept (escrow Secrets, never garbage-collected; default: the Lease's namespace)",
    )

    @property
    def key_escrow_namespace(self) -> str:
        return self.escrow_namespace or self.lease_namespace

    @property
    def lease_namespace(self) -> str:
        return (self.leader_election_namespace or os.environ.get("POD_NAMESPACE")
                or (self.namespaces[0] if self.namespaces else "default"))

    @field_validator("partner_secret")
    @classmethod
    def _namespaced(cls, value: str | None) -> str | None:
        if value and value.count("/") != 1:
            raise ValueError("partner secret must be given as namespace/name")
        return value or None

    def default_partner_allows(self, namespace: str) -> bool:
        """Whether ``namespace`` may spend the operator's default partner credentials."""
        allowed = self.default_partner_namespaces
        if allowed:
            return "*" in allowed or namespace in allowed
        ref = self.partner_secret_ref
        return ref is not None and ref[0] == namespace

    @property
    def partner_secret_ref(self) -> tuple[str, str] | None:
        if not self.partner_secret:
            return None
        namespace, name = self.partner_secret.split("/")
        return namespace, name


_ENV = {
    "namespaces": "DDMSP_NAMESPACES",
    "datadog_url": "DDMSP_DATADOG_URL",
    "partner_secret": "DDMSP_PARTNER_SECRET",
    "partner_api_key": "DDMSP_PARTNER_API_KEY",
    "partner_app_key": "DDMSP_PARTNER_APP_KEY",
    "default_partner_namespaces": "DDMSP_DEFAULT_PARTNER_NAMESPACES",
    "cost_refresh_interval": "DDMSP_COST_REFRESH_INTERVAL",
    "drift_interval": "DDMSP_DRIFT_INTERVAL",
    "wait_poll": "DDMSP_WAIT_POLL",
    "permission_recheck": "DDMSP_PERMISSION_RECHECK",
    "create_settle_seconds": "DDMSP_CREATE_SETTLE_SECONDS",
    "metadata_poll": "DDMSP_METADATA_POLL",
    "worker_limit": "DDMSP_WORKER_LIMIT",
    "log_format": "DDMSP_LOG_FORMAT",
    "verbose": "DDMSP_VERBOSE",
    "kube_threads": "DDMSP_KUBE_THREADS",
    "liveness": "DDMSP_LIVENESS",
    "metrics_port": "DDMSP_METRICS_PORT",
    "metrics_secure": "DDMSP_METRICS_SECURE",
    "metrics_cert_dir": "DDMSP_METRICS_CERT_DIR",
    "readiness_port": "DDMSP_READINESS_PORT",
    "kubeconfig": "KUBECONFIG",
    "leader_election": "DDMSP_LEADER_ELECTION",
    "leader_election_namespace": "DDMSP_LEADER_ELECTION_NAMESPACE",
    "leader_election_id": "DDMSP_LEADER_ELECTION_ID",
    "lease_duration": "DDMSP_LEASE_DURATION",
    "backoff_cap": "DDMSP_BACKOFF_CAP",
    "restart_spread": "DDMSP_RESTART_SPREAD",
    "shutdown_timeout": "DDMSP_SHUTDOWN_TIMEOUT",
    "escrow_namespace": "DDMSP_ESCROW_NAMESPACE",
}


def describe_setting(field: str) -> str:
    """How a user sets ``field``: its flag and its environment variable."""
    return f"--{field.replace('_', '-')} / {_ENV[field]}" if field in _ENV else field


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for `ddmsp run`; each defaults to its environment variable."""
    parser.add_argument("--namespace", "-n", action="append", dest="namespaces",
                        help="watch this namespace (repeatable); default: all namespaces")
    parser.add_argument("--datadog-url", help="API base URL for every site (e.g. a simulator)")
    parser.add_argument("--partner-secret", help="namespace/name of default partner keys")
    parser.add_argument("--default-partner-namespace", action="append",
                        dest="default_partner_namespaces",
                        help="namespace allowed to use the default partner keys (repeatable; "
                        "'*' = all); default: the --partner-secret namespace only")
    parser.add_argument("--cost-refresh-interval", type=float,
                        help="seconds between cost/usage refreshes per partner (default 3600)")
    parser.add_argument("--drift-interval", type=float, help="seconds between drift checks")
    parser.add_argument("--wait-poll", type=float, help="seconds between dependency checks")
    parser.add_argument("--log-format", choices=["text", "json"],
                        help="text (default) or json, one object per line")
    parser.add_argument("--verbose", type=_bool, help="log every pass and timer (DEBUG); "
                        "default false")
    parser.add_argument("--permission-recheck", type=float,
                        help="seconds before a permission Datadog refused is asked again")
    parser.add_argument("--metadata-poll", type=float,
                        help="seconds between reads of an unlabelled IdP metadata source")
    parser.add_argument("--worker-limit", type=int, help="max objects handled concurrently")
    parser.add_argument("--liveness", help="liveness endpoint URL ('' disables)")
    parser.add_argument("--metrics-port", type=int, help="Prometheus port (0 disables)")
    parser.add_argument("--metrics-secure", type=_bool, help="HTTPS + token authorisation "
                        "for /metrics (default true); false: plain HTTP on 127.0.0.1")
    parser.add_argument("--metrics-cert-dir", help="directory with tls.crt and tls.key for "
                        "/metrics (default: self-signed)")
    parser.add_argument("--readiness-port", type=int, help="serve /readyz on this port")
    parser.add_argument("--leader-election", type=_bool, help="hold a Lease before acting "
                        "(default true)")
    parser.add_argument("--leader-election-namespace", help="namespace of the Lease")
    parser.add_argument("--leader-election-id", help="name of the Lease (one per release)")
    parser.add_argument("--lease-duration", type=float, help="seconds before a dead "
                        "leader's Lease is taken over")
    parser.add_argument("--backoff-cap", type=float, help="longest retry backoff (s)")
    parser.add_argument("--restart-spread", type=float, help="spread re-checks of Ready "
                        "objects after a restart over this many seconds")
    parser.add_argument("--shutdown-timeout", type=float, help="seconds to wait for passes "
                        "in flight at shutdown")
    parser.add_argument("--escrow-namespace", help="namespace of the escrow Secrets "
                        "(keys of deleted DatadogClientOrgs)")


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def from_env_and_args(args: argparse.Namespace | None = None,
                      env: dict[str, str] | None = None) -> OperatorSettings:
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    for field, var in _ENV.items():
        if var in env:
            raw = env[var]
            values[field] = ([n for n in raw.split(",") if n]
                             if field in ("namespaces", "default_partner_namespaces") else raw)
    if args is not None:
        for field in _ENV:
            value = getattr(args, field, None)
            if value is not None:
                values[field] = value
    for port in ("metrics_port", "readiness_port"):
        if values.get(port) in (0, "0", ""):
            values[port] = None
    if values.get("metrics_cert_dir") == "":
        values["metrics_cert_dir"] = None
    if values.get("liveness") == "":
        values["liveness"] = None
    return OperatorSettings.model_validate(values)
