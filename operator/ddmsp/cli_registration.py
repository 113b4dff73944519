"""`ddmsp confirm-registration NAME` (also `kubectl ddmsp confirm-registration NAME`): record
that the partner registered a spun-off parent org in the DPN portal.

It sets ``spec.registration.confirmed`` and ``orgPublicId`` (the parent org in status,
the one the partner registered) and ``dealId`` on the DatadogClientOrg, exactly
what a `kubectl patch` would; the operator then creates the client's working org. Like
kubectl plugins, it reads the namespace from -n or the kubeconfig's current context.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from kubernetes import client, config

from ddmsp import API_GROUP, API_VERSION
from ddmsp.cli_errors import describe
from ddmsp.resources.clientorg import CLIENT_ORG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the DatadogClientOrg (provisioning: SpinOff)")
    parser.add_argument("--deal-id", help="DPN deal or registration ID, kept in status for audit")
    parser.add_argument("--namespace", "-n", help="default: the kubeconfig context's namespace")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the chosen kubeconfig context, as kubectl would use it."""
    contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
        config_file=kubeconfig)
    chosen = next((c for c in contexts if c["name"] == context), current) if context \
        else current
    return str((chosen or {}).get("context", {}).get("namespace") or "default")


def registration_patch(body: dict[str, Any], deal_id: str | None) -> dict[str, Any] | None:
    """The merge patch to send, or None when the org is already confirmed as asked.
    Raises ValueError for an org without a registration step."""
    spec = body.get("spec") or {}
    if spec.get("provisioning", "ChildOrg") != "SpinOff":
        raise ValueError("only provisioning: SpinOff orgs have a DPN registration step")
    parent = str(((body.get("status") or {}).get("parentOrg") or {}).get("publicId") or "")
    if not parent:
        raise ValueError("its parent org does not exist yet: nothing to register; wait for "
                         "phase AwaitingRegistration")
    current = spec.get("registration") or {}
    if current.get("confirmed") and current.get("orgPublicId") == parent and (
            deal_id is None or current.get("dealId") == deal_id):
        return None
    # The confirmation names the org it is for: it never counts for another org.
    registration: dict[str, Any] = {"confirmed": True, "orgPublicId": parent}
    if deal_id is not None:
        registration["dealId"] = deal_id
    return {"spec": {"registration": registration}}


def main(args: argparse.Namespace) -> int:
    try:
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=args.kubeconfig, context=args.context)
        namespace = args.namespace or context_namespace(args.kubeconfig, args.context)
    except (config.ConfigException, OSError) as exc:
        print(f"error: cannot load the kubeconfig: {exc}", file=sys.stderr)
        return 2
    objects = client.CustomObjectsApi(cast(client.ApiClient, api))
    info = CLIENT_ORG
    ref = f"{info.plural}.{API_GROUP}/{args.name}"
    try:
        body = cast(dict[str, Any], objects.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, info.plural, args.name))
        patch = registration_patch(body, args.deal_id)
        if patch is None:
            print(f"{ref} registration already confirmed")
            return 0
        objects.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, info.plural,
                                               args.name, patch)
    except ValueError as exc:
        print(f"error: {ref} in namespace {namespace}: {exc}", file=sys.stderr)
        return 1
    except client.ApiException as exc:
        verb = "patch" if exc.status == 403 else "get"
        print(f"error: {ref}: {describe(exc, verb, f'{info.plural}.{API_GROUP}', namespace)}",
              file=sys.stderr)
        return 1
    print(f"{ref} registration confirmed")
    return 0
