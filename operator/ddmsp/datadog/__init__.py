"""datadog package."""
