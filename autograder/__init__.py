"""The course's grading package: nbgrader in a sandbox, at class scale."""

import os
import sys
from pathlib import Path

# nbgrader runs the `alembic` executable from PATH to check gradebook schemas: make the
# tools of this interpreter's environment findable even when it was not activated.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
