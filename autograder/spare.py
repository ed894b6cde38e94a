"""The next unit's kernel, started while the current unit finishes.

Starting a sandboxed kernel (bubblewrap, Python, ipykernel, the grader's agent) takes
seconds, and in a unit nothing else can happen meanwhile. A warm worker (``worker.py``)
therefore starts one spare kernel as soon as it has replied for a unit (and once when it
starts), so that the kernel boots while the batch writes results and sends the next unit.
The next unit claims it instead of starting its own.

A spare kernel is the kernel a unit would start: the same sandbox, limits and command
line, with the grader's startup (``sandbox.TRUSTED_STARTUP``) run in it, and PyTorch
already imported (``PRELOAD``, which binds no name the student's code could see). It has
run no student code, it serves one unit only, and it is shut down with that unit.
Its working folder and ipc folder are its own (removed with it), and what the kernel
process writes to its file descriptors is kept and copied into the unit's log.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from jupyter_core.utils import run_sync
from traitlets.config import Config

# A unit's kernel is started with EXECUTE_ARGUMENTS (``GuardedExecute.extra_arguments``,
# set in unit.py), to which nbclient adds an in-memory history file
# (``NotebookClient.ipython_hist_file``); a spare kernel is started with the same.
EXECUTE_ARGUMENTS = ["--HistoryManager.enabled=False"]
KERNEL_ARGUMENTS = [*EXECUTE_ARGUMENTS, "--HistoryManager.hist_file=:memory:"]
KERNEL_NAME = "python3"
# Imported by a spare kernel while it waits (NumPy already is, by the agent). Every notebook
# of the course but 01 imports PyTorch, which costs seconds; importing binds no name.
PRELOAD = ("torch",)
LOG_CHARS = 200_000  # of the kernel's own output copied into the unit's log


@dataclass(frozen=True)
class KernelSettings:
    """What makes two units' kernels interchangeable: the sandbox and its limits."""

    memory_bytes: int
    threads: int
    timeout_s: int
    sandbox: bool

    @classmethod
    def of(cls, spec: object) -> KernelSettings:
        """The settings of a ``unit.UnitSpec``."""
        return cls(int(spec.memory_bytes), int(spec.threads), int(spec.timeout_s), bool(spec.sandbox))

    def to_json(self) -> dict:
        return asdict(self)


def kernel_config(settings: KernelSettings, scratch: Path, ipc_dir: Path, preload: tuple[str, ...] = ()) -> Config:
    """The ``SandboxedKernelManager`` part of a unit's nbgrader configuration."""
    config = Config()
    config.SandboxedKernelManager.preload = list(preload)
    manager = config.SandboxedKernelManager
    manager.scratch_dir = str(scratch)
    manager.ipc_dir = str(ipc_dir)
    manager.transport = "ipc"
    manager.ip = str(ipc_dir / "k")
    manager.connection_file = str(ipc_dir / "kernel.json")
    manager.memory_bytes = settings.memory_bytes
    manager.threads = settings.threads
    manager.use_sandbox = settings.sandbox
    return config


@dataclass
class SpareKernel:
    """A started kernel and the folders it owns."""

    settings: KernelSettings
    manager: object  # sandbox.SandboxedKernelManager
    folder: Path

    @property
    def scratch(self) -> Path:
        return self.folder / "scratch"

    @property
    def ipc_dir(self) -> Path:
        return self.folder / "ipc"

    @property
    def log_path(self) -> Path:
        return self.folder / "kernel.log"

    def copy_log(self, stream=None) -> None:
        """Append the kernel process's own output (ipykernel's notes, C-level crashes) to
        ``stream`` (the unit's log, standard error in a worker)."""
        stream = stream or sys.stderr
        with contextlib.suppress(OSError):
            with open(self.log_path, "rb") as handle:
                text = handle.read(LOG_CHARS).decode("utf-8", "replace")
            if text:
                stream.write(text if text.endswith("\n") else text + "\n")
                stream.flush()

    def remove(self) -> None:
        """Stop the kernel (if it still runs) and remove its folders."""
        with contextlib.suppress(Exception):
            run_sync(_stop)(self.manager)
        shutil.rmtree(self.folder, ignore_errors=True)


async def _stop(manager) -> None:
    if manager.has_kernel:
        await manager.shutdown_kernel(now=True)
    await manager.cleanup_resources()


def start(settings: KernelSettings) -> SpareKernel:
    """Start a kernel as a unit with these settings would, without waiting for it to boot."""
    from .sandbox import SandboxedKernelManager

    folder = Path(tempfile.mkdtemp(prefix="cnnk-"))
    spare = SpareKernel(settings, None, folder)
    spare.scratch.mkdir()
    spare.ipc_dir.mkdir()
    try:
        spare.manager = SandboxedKernelManager(
            config=kernel_config(settings, spare.scratch, spare.ipc_dir, PRELOAD), kernel_name=KERNEL_NAME)
        with open(spare.log_path, "wb") as log:
            run_sync(spare.manager.start_kernel)(
                extra_arguments=list(KERNEL_ARGUMENTS), stdout=log, stderr=log)
    except BaseException:
        if spare.manager is not None:
            spare.remove()  # the kernel, if it started, and the folder
        else:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return spare


_spare: SpareKernel | None = None
_handed_over: object | None = None
_keep_one_ready = False  # set by a warm worker, which lives on to use the next spare


def keep_one_ready(more_units: bool = True) -> None:
    """Whether the next unit of this process starts a kernel for the one after it
    (``prepare_next``). Only a process that grades unit after unit, and discards the spare
    when it leaves, may turn it on (``worker.py``): a one-unit process would leave a kernel
    nobody uses. The batch turns it off for the last unit it hands out."""
    global _keep_one_ready
    _keep_one_ready = more_units


def prepare_next(settings: KernelSettings) -> None:
    """``prepare(settings)`` in a process that keeps one ready; nothing elsewhere."""
    if _keep_one_ready:
        prepare(settings)


def prepare(settings: KernelSettings) -> None:
    """Have a spare kernel with ``settings`` ready (one at most); failures leave none."""
    global _spare
    if _spare is not None and _spare.settings == settings:
        return
    discard()
    try:
        _spare = start(settings)
    except Exception as error:  # the unit will start its own kernel, as without a spare
        print(f"[spare kernel] not started: {type(error).__name__}: {error}", file=sys.stderr)
        _spare = None


def claim(settings: KernelSettings) -> SpareKernel | None:
    """Take the spare kernel for one unit, if it has these settings and is alive."""
    global _spare
    spare, _spare = _spare, None
    if spare is None:
        return None
    try:
        alive = run_sync(_is_alive)(spare.manager)
    except Exception:
        alive = False
    if spare.settings != settings or not alive:
        spare.copy_log()
        spare.remove()
        return None
    return spare


async def _is_alive(manager) -> bool:
    return bool(await manager.is_alive())


def discard() -> None:
    """Stop the spare kernel, if any (the worker is leaving, or the settings changed)."""
    global _spare
    spare, _spare = _spare, None
    if spare is not None:
        spare.remove()


def hand_over(manager: object | None) -> None:
    """Give a claimed kernel's manager to the next ``GuardedExecute.preprocess`` call."""
    global _handed_over
    _handed_over = manager


def take_handed_over() -> object | None:
    """The manager handed over for this notebook, once."""
    global _handed_over
    manager, _handed_over = _handed_over, None
    return manager
