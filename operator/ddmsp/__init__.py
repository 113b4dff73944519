"""ddmsp: a Kubernetes operator that runs Datadog MSP client organizations as code."""

API_GROUP = "ddmsp.io"
API_VERSION = "v1alpha1"
__version__ = "0.1.0"
