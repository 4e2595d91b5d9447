"""attncli: a command-line attention inspector."""

__version__ = "0.1.0"

#: Bumped whenever the layout of the JSON documents changes.
SCHEMA_VERSION = 1
