"""SAML helpers: safe parsing of untrusted IdP metadata."""
