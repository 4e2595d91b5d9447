"""The version and the JSON schema number: a leaf module every other one may import."""

__version__ = "0.2.0"

#: Bumped whenever the layout of the JSON documents changes.
SCHEMA_VERSION = 1
