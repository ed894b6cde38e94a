"""nbgrader preprocessors that make autograding survive hostile notebooks.

- ``GuardedExecute``: nbgrader's ``Execute`` with a wall-time budget for the whole
  notebook, a cap on each cell's output, a scratch working folder that holds no
  notebook, and a dead kernel turned into failed cells instead of a lost notebook.
  Test cells never run in the student's kernel: their code (from the plan, built from
  the source notebooks) runs in this process (``trusted.py``), and reaches the
  student's functions through the kernel's agent (``agent.py``), with values as data.
- ``NormaliseGradeOutputs``: a test cell passes when it raised nothing. nbgrader would
  also give 0 for any stderr output (a warning fails correct code) and partial credit
  for a number the cell displays (student code can display one): both are removed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer, Unicode

from . import spare
from .plan import graded_name_of, read_plan

KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
TIME_LIMIT = "NotebookTimeLimit"
FORBIDDEN = "ForbiddenLibrary"
STUDENT_TRACEBACK = "Traceback of your code (most recent call last):"
AGENT_CELL = "import autograder.agent as _cnn_agent\n_cnn_agent.serve({path!r})\ndel _cnn_agent"
CONNECT_TIMEOUT_S = 60


def _error_output(ename: str, evalue: str, traceback: list[str] | None = None) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=traceback or [f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """Execute a notebook under a whole-notebook deadline; test cells on the trusted side."""

    notebook_timeout = Integer(300, config=True, help="Seconds for the whole notebook.")
    max_output_chars = Integer(200_000, config=True, help="Characters of output kept per cell.")
    scratch_dir = Unicode("", config=True, help="The kernel's working folder.")
    plan_path = Unicode("", config=True, help="The plan of the trusted side (plan.py), from the template.")
    ipc_dir = Unicode("", config=True, help="Folder shared with the sandbox for the agent's socket.")
    assignment = Unicode("", config=True, help="The assignment being graded (for the library rules).")
    notes_path = Unicode("", config=True, help="File for the limits each notebook's kernel hit.")

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km: object = None):
        from .trusted import Session, exact_float32

        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped: tuple[str, str] | None = None
        self.timeout_func = self._remaining_seconds
        resources = dict(resources or {})
        if self.scratch_dir:
            resources["metadata"] = {**resources.get("metadata", {}), "path": self.scratch_dir}
        plan = read_plan(Path(self.plan_path)) if self.plan_path else {"notebooks": {}}
        name = resources.get("unique_key") or ""
        self._plan = plan["notebooks"].get(name, {"tests": {}, "setup": {}})
        self._session = Session()
        exact_float32()
        self._forbidden = self._forbidden_uses(nb)
        self._listener: socket.socket | None = None  # made once the kernel (and its folders) exist
        self._kernel_manager = None
        handed_over = spare.take_handed_over() if km is None else None  # the worker's spare kernel
        try:
            nb, resources = super().preprocess(nb, resources, km or handed_over)
            return nb, resources
        finally:
            if handed_over is not None and self.km is not None:  # nbclient stops only kernels it started
                self._cleanup_kernel()
            self._note_limits(name)
            if self._listener is not None:
                self._listener.close()
                with contextlib.suppress(OSError):
                    os.unlink(self._socket_path)

    def _note_limits(self, name: str) -> None:
        """Record the sandbox's limits that the kernel hit (memory, processes) for problems.txt:
        one JSON line per notebook in ``notes_path`` (nbgrader clears the notebook's metadata)."""
        limits_hit = getattr(getattr(self, "_kernel_manager", None), "limits_hit", None)
        notes = [str(n) for n in limits_hit()] if callable(limits_hit) else []
        if notes and self.notes_path:
            with open(self.notes_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"notebook": name, "limits_hit": notes}) + "\n")

    def _forbidden_uses(self, nb: NotebookNode) -> dict[str, list[str]]:
        """Graded name -> what forbidden library its code uses (decided here, from the source)."""
        try:
            from .forbidden import forbidden_uses
        except ImportError:  # pragma: no cover - the rules module is part of the package
            return {}
        sources = [cell.source for cell in nb.cells if cell.cell_type == "code"]
        return {name: why for name, why in forbidden_uses(self.assignment, sources).items() if why}

    def _listen(self) -> socket.socket:
        folder = self.ipc_dir or self.scratch_dir or "/tmp"
        self._socket_path = os.path.join(folder, "grader.sock")
        with contextlib.suppress(OSError):
            os.unlink(self._socket_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self._socket_path)
        os.chmod(self._socket_path, 0o777)  # the sandbox's user connects to it
        listener.listen(1)
        listener.settimeout(0.2)
        return listener

    def _interrupted_at_deadline(self, cell: NotebookNode) -> bool:
        return time.monotonic() >= self._deadline - 1 and any(
            out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt" for out in cell.get("outputs", [])
        )

    def _remaining_seconds(self, cell: NotebookNode) -> int:
        return max(1, int(self._deadline - time.monotonic()))

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if self.km is not None:  # nbclient forgets it at clean-up; its limits report outlives it
            self._kernel_manager = self.km
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stopped = (TIME_LIMIT, f"the notebook ran out of its {self.notebook_timeout} s time limit")
        if self._stopped is not None:
            cell.outputs = [_error_output(NOT_RUN, f"not run: {self._stopped[1]}")]
            return cell, resources
        self._cell_chars = 0
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        try:
            if grade_id in self._plan["tests"] and utils.is_grade(cell) and not utils.is_solution(cell):
                self._run_test_cell(cell, index, grade_id)
                return cell, resources
            cell, resources = super().preprocess_cell(cell, resources, index)
            if self._interrupted_at_deadline(cell):  # nbclient interrupts the kernel at the timeout
                reason = f"the notebook ran out of its {self.notebook_timeout} s time limit (cell {index} was interrupted)"
                self._stopped = (TIME_LIMIT, reason)
                cell.outputs.append(_error_output(TIME_LIMIT, reason))
                return cell, resources
            if grade_id in self._plan["setup"]:
                self._run_trusted(self._plan["setup"][grade_id], index, f"<setup {grade_id}>")
            return cell, resources
        except CellTimeoutError:
            reason = f"the notebook ran out of its {self.notebook_timeout} s time limit (cell {index} never finished)"
            self._stopped = (TIME_LIMIT, reason)
            cell.outputs.append(_error_output(TIME_LIMIT, reason))
            return cell, resources
        except DeadKernelError:
            reason = f"the kernel died (crash, os._exit, out of memory or process limit) in cell {index}"
            self._stopped = (KERNEL_DIED, reason)
            cell.outputs.append(_error_output(KERNEL_DIED, reason))
            return cell, resources

    # ------------------------------------------------------------ the trusted side
    def _run_test_cell(self, cell: NotebookNode, index: int, grade_id: str) -> None:
        """Run a test cell's code from the plan here, its student names proxied to the kernel."""
        test = self._plan["tests"][grade_id]
        cell.execution_count = index
        name = graded_name_of(grade_id)
        if name in self._forbidden:
            why = "; ".join(self._forbidden[name])
            cell.outputs = [_error_output(FORBIDDEN, f"{why}. All tests of {name} score 0.")]
            return
        error, printed = self._run_trusted(test, index, f"<test {grade_id}>")
        cell.outputs = []
        if printed:
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=printed[: self.max_output_chars]))
        if error is not None:
            cell.outputs.append(error)

    def _run_trusted(self, code: dict, index: int, filename: str) -> tuple[NotebookNode | None, str]:
        """Run trusted code while the kernel's agent answers; (error output or None, stdout)."""
        session = self._session
        if self._listener is None:
            self._listener = self._listen()
        outcome: dict = {}
        done = threading.Event()

        def worker() -> None:
            from .trusted import connected

            capture = io.StringIO()
            try:
                connection = self._accept(done)
                with connected(session, connection, self._deadline), contextlib.redirect_stdout(capture):
                    remote = [n for n in code["names"] if n not in session.namespace or n in session.remote_names]
                    session.bind_remote_names(remote)
                    session.run(code["source"], filename)
            except BaseException as error:  # reported as the cell's error
                outcome["error"] = error
            finally:
                outcome["stdout"] = capture.getvalue() + session.take_student_output()

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        probe = NotebookNode(cell_type="code", source=AGENT_CELL.format(path=self._socket_path), metadata={},
                             outputs=[], execution_count=None)
        cell = self.nb.cells[index]
        try:
            self.execute_cell(probe, index, store_history=False)
        finally:
            self.nb.cells[index] = cell  # nbclient stores the cell it ran at that index
            done.set()
            thread.join(max(1.0, self._deadline - time.monotonic()) + 10)
        if thread.is_alive():
            return _error_output(TIME_LIMIT, "the tests did not finish within the notebook's time limit"), ""

        return describe_failure(outcome.get("error")), outcome.get("stdout", "")

    def _accept(self, done: threading.Event) -> socket.socket:
        from .trusted import KernelUnavailable

        give_up = time.monotonic() + CONNECT_TIMEOUT_S
        while time.monotonic() < min(give_up, self._deadline):
            try:
                connection, _ = self._listener.accept()
                connection.setblocking(True)
                return connection
            except TimeoutError:
                if done.is_set():
                    break
        raise KernelUnavailable("the student's kernel did not connect to the grader (was autograder.agent changed?)")

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


def describe_failure(error: BaseException | None) -> NotebookNode | None:
    """The error output of a test cell: the student's exception with their own frames, or
    the trusted side's message. Never a line of test code."""
    from .trusted import KernelUnavailable, NotebookTimeLimit, StudentError
    from .wire import WireError

    if error is None:
        return None
    if isinstance(error, NotebookTimeLimit):
        return _error_output(TIME_LIMIT, str(error))
    if isinstance(error, KernelUnavailable):
        return _error_output(KERNEL_DIED, str(error))
    if isinstance(error, WireError):
        return _error_output("GradingError", f"your code returned something the grader cannot read: {error}")
    message = str(error)
    if isinstance(error, StudentError):
        name = error.student_type
        lines = [STUDENT_TRACEBACK, error.student_traceback.rstrip(), f"{name}: {message}"]
        return _error_output(name, message, [line for line in lines if line])
    return _error_output(type(error).__name__, message)


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
