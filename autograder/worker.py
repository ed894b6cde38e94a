"""A grading worker: one process that grades unit after unit.

The trusted side of grading (nbgrader, PyTorch, the test code) lives in this process;
starting it costs seconds (imports), so each of the ``--jobs`` workers is started once
and reused. The batch sends one spec path per line on standard input and reads one JSON
line per unit back; each unit's log (nbgrader's, the kernel's) goes to its own file.
A worker that hangs past a unit's limit or dies is killed with its process group and
replaced by the batch (``batch.py``); that loses only the unit in flight.

The first line on standard input is ``{"warm": KernelSettings or null}``: with settings,
the worker starts the first unit's kernel (``spare.py``) before its own imports, and each
unit starts the next one's, so kernels boot while other work runs.

Run as ``python -m autograder.worker``.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from . import spare
from .startup import skip_slow_optional_imports


def _reset_trusted_state(threads: int) -> None:
    """Each unit starts as in a fresh process: seeds, default dtype, gradients on; and the
    unit's share of the cores (idle OpenMP threads spin and starve the kernel beside us)."""
    import numpy as np

    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)


def _keep_templates_warm() -> None:
    """Read each template gradebook once per worker, not once per unit: the cells of a
    template (keyed by its path, size and time) are kept while the file is unchanged."""
    import copy

    from . import unit

    def cached(read):
        memo: dict = {}

        def wrapper(template_db: str):
            stat = os.stat(template_db)
            key = (os.path.abspath(template_db), stat.st_size, stat.st_mtime_ns)
            if key not in memo:
                if len(memo) > 64:
                    memo.clear()
                memo[key] = read(template_db)
            return copy.deepcopy(memo[key])

        return wrapper

    unit.template_notebooks = cached(unit.template_notebooks)
    unit.template_cell_ids = cached(unit.template_cell_ids)


def _grade_with_log(spec_path: Path, log_path: Path) -> None:
    """Grade one unit with file descriptors 1 and 2 sent to its log (the kernel's output too)."""
    from .unit import UnitSpec, grade_unit

    spec = UnitSpec(**json.loads(spec_path.read_text()))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            _reset_trusted_state(spec.threads)
            grade_unit(spec)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main() -> int:
    skip_slow_optional_imports()
    os.environ.pop("NBGRADER_EXECUTION", None)
    replies = os.fdopen(os.dup(1), "w", buffering=1)  # the batch reads replies here, not the logs
    first = json.loads(sys.stdin.readline() or "{}")  # the kernel settings of the units to come
    if first.get("warm"):
        spare.prepare(spare.KernelSettings(**first["warm"]))  # it boots while this process imports
    import nbgrader.converters  # noqa: F401  (imported once: the point of a worker)

    from . import trusted  # noqa: F401

    _keep_templates_warm()
    replies.write(json.dumps({"ready": True}) + "\n")
    try:
        for line in sys.stdin:
            request = json.loads(line)
            spare.keep_one_ready(request.get("more", True))  # no kernel for a unit that will not come
            try:
                _grade_with_log(Path(request["spec"]), Path(request["log"]))
                replies.write(json.dumps({"ok": True}) + "\n")
            except Exception as error:  # reported; the batch writes a failed result
                replies.write(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]}) + "\n")
    finally:
        spare.discard()
    return 0


if __name__ == "__main__":
    sys.exit(main())
