"""Typed configs: ``schema`` (the dataclasses) and ``loader`` (YAML files, ``_base_``, ``--set``)."""
