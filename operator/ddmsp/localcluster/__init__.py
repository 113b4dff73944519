"""A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager).

Started from binaries built by ``hack/build-binaries``, the way controller-runtime's
envtest does it: no Docker, no kubelet, but real admission, RBAC, CEL validation,
watches, garbage collection and namespace deletion.
"""

from ddmsp.localcluster.controlplane import ControlPlane, ControlPlaneState

__all__ = ["ControlPlane", "ControlPlaneState"]
