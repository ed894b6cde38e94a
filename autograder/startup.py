"""What the grader's own processes (the CLI, each worker) do first."""

from __future__ import annotations

import sys


def skip_slow_optional_imports() -> None:
    """Go without ``rfc3987_syntax``, which ``jsonschema`` imports when it is installed
    (``jupyter-events`` pulls it in) and which compiles 38 grammars on import: 1.6 s in every
    process that reads a notebook, measured. It serves only the ``iri`` formats of JSON
    Schema; neither nbformat nor nbgrader validates formats. Call before nbformat is
    imported; a process that already has ``jsonschema`` loaded is left as it is."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # None: ``import`` raises ImportError
