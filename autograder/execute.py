"""nbgrader preprocessors that make autograding survive hostile notebooks.

- ``GuardedExecute``: nbgrader's ``Execute`` with a wall-time budget for the whole
  notebook, a cap on each cell's output, a scratch working folder that holds no
  notebook (the restored hidden tests stay out of the kernel's reach), and a dead kernel
  turned into failed cells instead of a lost notebook.
- ``NormaliseGradeOutputs``: a test cell passes when it raised nothing. nbgrader would
  also give 0 for any stderr output (a warning fails correct code) and partial credit
  for a number the cell displays (student code can display one): both are removed.
"""

from __future__ import annotations

import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer, Unicode

RESTORE_TRUSTED = "import autograder.checks as _autograder_checks; _autograder_checks.restore_trusted(); del _autograder_checks"
KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
TIME_LIMIT = "NotebookTimeLimit"


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """Execute a notebook under a whole-notebook deadline, surviving a dead kernel."""

    notebook_timeout = Integer(300, config=True, help="Seconds for the whole notebook.")
    max_output_chars = Integer(200_000, config=True, help="Characters of output kept per cell.")
    scratch_dir = Unicode("", config=True, help="The kernel's working folder.")

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km: object = None):
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped: tuple[str, str] | None = None
        self.timeout_func = self._remaining_seconds
        resources = dict(resources or {})
        if self.scratch_dir:
            resources["metadata"] = {**resources.get("metadata", {}), "path": self.scratch_dir}
        return super().preprocess(nb, resources, km)

    def _remaining_seconds(self, cell: NotebookNode) -> int:
        return max(1, int(self._deadline - time.monotonic()))

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stopped = (TIME_LIMIT, f"the notebook ran out of its {self.notebook_timeout} s time limit")
        if self._stopped is not None:
            cell.outputs = [_error_output(NOT_RUN, f"not run: {self._stopped[1]}")]
            return cell, resources
        self._cell_chars = 0
        try:
            if utils.is_grade(cell) and not utils.is_solution(cell):
                self._restore_trusted(index)
            return super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:
            reason = f"the notebook ran out of its {self.notebook_timeout} s time limit (cell {index} never finished)"
            self._stopped = (TIME_LIMIT, reason)
            cell.outputs.append(_error_output(TIME_LIMIT, reason))
            return cell, resources
        except DeadKernelError:
            reason = f"the kernel died (crash, os._exit or out of memory) in cell {index}"
            self._stopped = (KERNEL_DIED, reason)
            cell.outputs.append(_error_output(KERNEL_DIED, reason))
            return cell, resources

    def _restore_trusted(self, index: int) -> None:
        """Silently undo a student's monkeypatching of comparison functions before a test cell."""
        probe = NotebookNode(cell_type="code", source=RESTORE_TRUSTED, metadata={}, outputs=[], execution_count=None)
        self.execute_cell(probe, index, store_history=False)

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int):
        """Drop output beyond ``max_output_chars`` per cell, noting it once."""
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        self._cell_chars = getattr(self, "_cell_chars", 0) + size
        if self._cell_chars > self.max_output_chars and msg.get("msg_type") != "error":
            if self._cell_chars - size <= self.max_output_chars:
                outs.append(
                    NotebookNode(
                        output_type="stream",
                        name="stdout",
                        text=f"\n[output truncated by the grader after {self.max_output_chars} characters]\n",
                    )
                )
            return None
        return super().output(outs, msg, display_id, cell_index)


class NormaliseGradeOutputs(NbGraderPreprocessor):
    """In test cells keep only errors and stdout: no stderr zeros, no displayed partial credit."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            cell.outputs = [
                out
                for out in cell.outputs
                if out.output_type == "error" or (out.output_type == "stream" and out.get("name") == "stdout")
            ]
        return cell, resources
