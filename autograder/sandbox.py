"""Run the student's kernel in a bubblewrap sandbox.

The kernel sees a read-only Python installation, this package (for the trusted checks),
an empty writable scratch folder and nothing else of the machine: no solutions, no
gradebook, no other submission, no network (own network namespace), its own PID
namespace (every process it leaves behind dies with it), and an address-space limit.
It talks to the grader over Unix sockets in a folder shared only for that.

Where bubblewrap cannot start, kernels run unsandboxed with the same limits and a loud
warning (``SandboxUnavailable`` tells why).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

PACKAGE_DIR = Path(__file__).resolve().parent
TRUSTED_STARTUP = "import autograder.checks"


class SandboxWarning(UserWarning):
    """Student code runs without the sandbox."""


@dataclass(frozen=True)
class Limits:
    """Limits for one notebook's kernel."""

    timeout_s: int = 300
    memory_bytes: int = 4 * 1024**3
    max_output_lines: int = 1000
    threads: int = 1
    readonly_paths: list[str] = field(default_factory=list)


def _python_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}
    return sorted(r for r in roots if r and os.path.isdir(r))


def _gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None when bubblewrap works here, else why it cannot be used."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian package 'bubblewrap')"
    probe = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not start: {error}"
    if result.returncode != 0:
        return f"bubblewrap could not start: {result.stderr.strip() or result.returncode}"
    return None


def kernel_environment(scratch: Path, limits: Limits) -> dict[str, str]:
    """The whole environment of a student kernel: nothing inherited from the instructor."""
    threads = str(max(1, limits.threads))
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONPATH": str(PACKAGE_DIR.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NBGRADER_EXECUTION": "autograde",
    }


def wrap_command(command: list[str], scratch: Path, ipc_dir: Path, limits: Limits) -> list[str]:
    """The bubblewrap command line that runs ``command`` in the sandbox."""
    bwrap = [
        "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
    ]
    for system_dir in ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc/alternatives", "/etc/ssl"):
        if os.path.exists(system_dir):
            bwrap += ["--ro-bind", system_dir, system_dir]
    for path in [*_python_roots(), str(PACKAGE_DIR), *limits.readonly_paths]:
        bwrap += ["--ro-bind", path, path]
    for device in _gpu_devices():
        bwrap += ["--dev-bind", device, device]
    bwrap += ["--bind", str(scratch), str(scratch), "--bind", str(ipc_dir), str(ipc_dir)]
    bwrap += ["--chdir", str(scratch), "--clearenv"]
    for key, value in kernel_environment(scratch, limits).items():
        bwrap += ["--setenv", key, value]
    return [*bwrap, "--", *limit_prefix(limits), *command]


def limit_prefix(limits: Limits) -> list[str]:
    """prlimit arguments: an address-space cap (not with a GPU: it breaks CUDA)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None or _gpu_devices() or limits.memory_bytes <= 0:
        return []
    return [prlimit, f"--as={limits.memory_bytes}", "--core=0", "--"]


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel started inside bubblewrap, reached over Unix sockets."""

    scratch_dir = Unicode("", config=True, help="The kernel's writable working folder.")
    ipc_dir = Unicode("", config=True, help="Folder for the kernel's Unix sockets.")
    timeout_s = Integer(300, config=True)
    memory_bytes = Integer(4 * 1024**3, config=True)
    threads = Integer(1, config=True)
    readonly_paths = List(Unicode(), [], config=True)
    use_sandbox = Bool(True, config=True, help="False runs the kernel without bubblewrap.")

    def _limits(self) -> Limits:
        return Limits(
            timeout_s=self.timeout_s,
            memory_bytes=self.memory_bytes,
            threads=self.threads,
            readonly_paths=list(self.readonly_paths),
        )

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt by message: a signal would reach bubblewrap, not the kernel inside."""
        if not self.use_sandbox:
            await super()._async_interrupt_kernel()
            return
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    interrupt_kernel = _async_interrupt_kernel

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: object) -> None:
        scratch, ipc = Path(self.scratch_dir), Path(self.ipc_dir)
        limits = self._limits()
        kernel_cmd = [*kernel_cmd, f"--IPKernelApp.exec_lines={TRUSTED_STARTUP}"]
        kw["cwd"] = str(scratch)
        if self.use_sandbox:
            command = wrap_command(kernel_cmd, scratch, ipc, limits)
            kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            warnings.warn(
                "student code runs WITHOUT a sandbox: it can read and write what this user can",
                SandboxWarning,
                stacklevel=2,
            )
            command = [*limit_prefix(limits), *kernel_cmd]
            kw["env"] = kernel_environment(scratch, limits)
        await super()._async_launch_kernel(command, **kw)
