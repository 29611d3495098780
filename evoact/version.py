"""evoact's version: the one place it is written (``pyproject.toml`` reads it); runs and exports record it."""

VERSION = "0.1.0"
