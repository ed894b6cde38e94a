"""Run the student's kernel in a bubblewrap sandbox, inside its own cgroup.

The kernel sees a read-only Python installation, this package (for the trusted checks),
a few files of /etc that Python needs, and nothing else of the machine: no solutions, no
gradebook, no other submission, no /root, no network (own network namespace), its own
PID namespace (every process it leaves behind dies with it). It runs as an unprivileged
uid with no capabilities, in a mount namespace it cannot change. Its working folder and
HOME (the scratch folder), /tmp and /dev/shm are size-limited tmpfs mounts of its own;
it talks to the grader over Unix sockets in ``ipc_dir``, the one host folder it shares.

Who the kernel runs as:

- grader run as root: bubblewrap runs privileged (no user namespace) and switches the
  kernel to a fresh host uid of its own (``setpriv``), so per-user kernel counters
  (processes, inotify instances, ...) are its own and the kernel is nobody's root.
  ``ipc_dir`` becomes a size-limited tmpfs owned by that uid while the kernel lives.
- grader run as an ordinary user: bubblewrap makes a user namespace in which the kernel
  is uid 65534 with no capabilities and cannot make further user namespaces; files it
  writes are limited to ``ipc_bytes`` each (RLIMIT_FSIZE: the user cannot mount).

Limits: one cgroup per kernel holds the kernel and all its children: memory (RAM and
swap together) and a process count (threads included). cgroup v2 (as root, or in a
delegated subtree such as ``systemd-run --user --scope -p Delegate=yes``) or cgroup v1
memory and pids hierarchies the grader may write (as root). No RLIMIT_AS (it breaks
CUDA and does not add up over children). After the kernel stops, ``LimitsReport`` tells
whether the memory or process limit was reached.

``sandbox_problem()`` is the single check: None when such a sandbox starts here, else
the reason; grading refuses in that case unless explicitly run without a sandbox.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import errno
import functools
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode

PACKAGE_DIR = Path(__file__).resolve().parent
TRUSTED_STARTUP = "import autograder.agent"  # the grader's agent, loaded before any student code

MiB = 1024**2
GiB = 1024**3
SANDBOX_UID = 65534  # uid and gid inside the sandbox when the grader is not root
HOST_UID_BASE = 0x70000000  # as root, each kernel gets a fresh host uid from here on
HOST_UID_SPAN = 1 << 24
BWRAP_TASKS = 2  # bubblewrap's monitor and its PID-1 reaper count in the pids cgroup
MIN_BWRAP = (0, 8, 0)  # --size, --perms for tmpfs, --disable-userns

# Files of /etc the kernel may see: dynamic linker, alternatives symlinks, time zone.
# Not passwd, group, hosts, ssl or the rest of the machine's configuration.
ETC_FILES = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin")


class SandboxWarning(UserWarning):
    """Student code runs without the sandbox."""


class SandboxError(RuntimeError):
    """The sandbox cannot be set up here; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Limits for one notebook's kernel."""

    timeout_s: int = 300
    memory_bytes: int = 4 * GiB  # RAM + swap of the kernel and all its children
    max_output_lines: int = 1000
    threads: int = 1
    readonly_paths: list[str] = field(default_factory=list)
    max_processes: int = 128  # processes and threads of the kernel and its children
    tmp_bytes: int = 256 * MiB  # /tmp (and /dev/shm) inside the sandbox
    scratch_bytes: int = 256 * MiB  # the working folder and HOME
    ipc_bytes: int = 512 * MiB  # the folder shared with the grader (per file when not root)


def _size(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


@dataclass(frozen=True)
class LimitsReport:
    """What one sandboxed process tree ran into; read from its cgroup before removal."""

    memory_limit_bytes: int
    process_limit: int
    memory_peak_bytes: int | None = None
    oom_kills: int = 0  # memory limit reached: processes killed (or allocations refused)
    process_refusals: int = 0  # forks refused at the process limit
    process_limit_known: bool = True  # False where only RLIMIT_NPROC limits processes

    def sentences(self) -> list[str]:
        """Human sentences for problems.txt, e.g. 'memory limit of 2.0 GiB reached'."""
        hit = []
        if self.oom_kills and self.memory_limit_bytes > 0:
            hit.append(f"memory limit of {_size(self.memory_limit_bytes)} reached")
        if self.process_refusals:
            hit.append(f"process limit of {self.process_limit} reached")
        return hit


# ---------------------------------------------------------------- cgroups
_libc = ctypes.CDLL(None, use_errno=True)
_COUNTER = itertools.count()
_LEAF = "autograder-grader"  # where a delegated v2 cgroup's own processes move
_PREFIX = "autograder-"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _keyed(text: str) -> dict[str, int]:
    """'key value' lines (memory.events, pids.events, memory.oom_control) as a dict."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _number(path: Path) -> int | None:
    text = _read(path).strip()
    return int(text) if text.isdigit() else None


def _unescape(field_: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


@dataclass(frozen=True)
class Hierarchies:
    """Where this process's sandbox cgroups go: one v2 folder, or v1 memory (+ pids)."""

    version: int
    memory: Path  # v2: the parent folder for every controller
    pids: Path | None


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, fstype, super options) of each mount."""
    mounts = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) >= 5 and len(rest) >= 3:
            mounts.append((_unescape(fields[3]), _unescape(fields[4]), rest[0], set(rest[2].split(","))))
    return mounts


def _own_cgroups(text: str) -> dict[str, str]:
    """Controller (or '' for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    own = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                own[controller] = parts[2]
    return own


def _under(mount_root: str, mount_point: str, path: str) -> Path | None:
    if mount_root == "/":
        return Path(mount_point) / path.lstrip("/")
    if path == mount_root or path.startswith(mount_root.rstrip("/") + "/"):
        return Path(mount_point) / path[len(mount_root):].lstrip("/")
    return None


def _enable_v2(parent: Path, wanted: list[str]) -> None:
    """Enable ``wanted`` controllers for the children of ``parent``; moves the processes
    of ``parent`` into a leaf child first where they block it (no internal processes)."""
    for _attempt in range(5):
        enabled = _read(parent / "cgroup.subtree_control").split()
        missing = [c for c in wanted if c not in enabled]
        if not missing:
            return
        try:
            _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            continue
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise SandboxError(f"cannot enable {', '.join(missing)} in {parent}: {error.strerror}") from None
        leaf = parent / _LEAF
        leaf.mkdir(exist_ok=True)
        for pid in _read(parent / "cgroup.procs").split():
            try:
                _write(leaf / "cgroup.procs", pid)
            except OSError as error:
                if error.errno != errno.ESRCH:
                    raise SandboxError(
                        f"cannot move process {pid} out of {parent} to enable controllers: {error.strerror}"
                    ) from None
    raise SandboxError(f"cannot enable {', '.join(wanted)} in {parent}")


def find_hierarchies(proc: Path = Path("/proc/self")) -> Hierarchies:
    """Find (and on v2 prepare) the cgroup folder under which sandboxes go.

    v2 first: this process's own cgroup (or its parent when it is our leaf), with memory
    and pids enabled for its children. Else v1: this process's own memory cgroup and
    pids cgroup, when writable (root). Raises SandboxError saying what is missing.
    """
    mounts = _mounts(_read(proc / "mountinfo"))
    own = _own_cgroups(_read(proc / "cgroup"))
    why = []
    v2_path = own.get("")
    for root, point, fstype, _ in mounts:
        if fstype != "cgroup2" or v2_path is None:
            continue
        base = _under(root, point, v2_path)
        if base is None:
            continue
        if base.name == _LEAF:
            base = base.parent
        available = _read(base / "cgroup.controllers").split()
        if "memory" not in available or "pids" not in available:
            why.append(f"cgroup v2 {base} lacks {' and '.join(c for c in ('memory', 'pids') if c not in available)}")
            continue
        if not os.access(base / "cgroup.subtree_control", os.W_OK) or not os.access(base, os.W_OK):
            why.append(f"cgroup v2 {base} is not writable (not delegated to this user)")
            continue
        _enable_v2(base, ["memory", "pids"])
        return Hierarchies(2, base, base)
    memory = pids = None
    for root, point, fstype, options in mounts:
        if fstype != "cgroup":
            continue
        if "memory" in options and "memory" in own and memory is None:
            memory = _under(root, point, own["memory"])
        if "pids" in options and "pids" in own and pids is None:
            pids = _under(root, point, own["pids"])
    if memory is not None and os.access(memory, os.W_OK):
        if pids is not None and not os.access(pids, os.W_OK):
            pids = None
        if pids is None and os.geteuid() != 0:
            raise SandboxError(f"no writable cgroup v1 pids hierarchy to limit processes ({'; '.join(why)})")
        return Hierarchies(1, memory, pids)
    if memory is not None:
        why.append(f"cgroup v1 {memory} is not writable (run as root)")
    hint = "run as root, or under systemd-run --user --scope -p Delegate=yes"
    raise SandboxError(f"no usable cgroup for memory and process limits: {'; '.join(why) or 'none mounted'} ({hint})")


class Cgroup:
    """The cgroup of one sandbox: one folder on v2, a memory and a pids folder on v1."""

    def __init__(self, hierarchies: Hierarchies, memory_bytes: int, max_processes: int):
        self.version = hierarchies.version
        self.memory_bytes = memory_bytes
        self.max_processes = max_processes
        name = f"{_PREFIX}{os.getpid()}-{next(_COUNTER)}-{secrets.token_hex(3)}"
        parents = [hierarchies.memory] if self.version == 2 else [hierarchies.memory, hierarchies.pids]
        self.dirs = [parent / name for parent in parents if parent is not None]
        self.memory_dir = self.dirs[0]
        self.pids_dir = self.dirs[-1] if self.version == 2 or hierarchies.pids is not None else None
        for parent in parents:
            if parent is not None:
                _remove_stale(parent)
        try:
            for folder in self.dirs:
                folder.mkdir()
            self._configure()
        except OSError as error:
            self.remove()
            raise SandboxError(f"cannot set up cgroup {self.memory_dir}: {error}") from None

    def _configure(self) -> None:
        memory = str(self.memory_bytes) if self.memory_bytes > 0 else None
        pids = str(self.max_processes + BWRAP_TASKS) if self.max_processes > 0 else "max"
        if self.version == 2:
            _write(self.memory_dir / "memory.max", memory or "max")
            if (self.memory_dir / "memory.swap.max").exists():
                _write(self.memory_dir / "memory.swap.max", "0")
        else:
            _write(self.memory_dir / "memory.limit_in_bytes", memory or "-1")
            if (self.memory_dir / "memory.memsw.limit_in_bytes").exists():
                _write(self.memory_dir / "memory.memsw.limit_in_bytes", memory or "-1")
        if self.pids_dir is not None:
            _write(self.pids_dir / "pids.max", pids)

    @property
    def procs_files(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.dirs]

    def report(self) -> LimitsReport:
        if self.version == 2:
            events = _keyed(_read(self.memory_dir / "memory.events"))
            ooms = max(events.get("oom_kill", 0), events.get("oom", 0))
            peak = _number(self.memory_dir / "memory.peak")
        else:
            control = _keyed(_read(self.memory_dir / "memory.oom_control"))
            ooms = control.get("oom_kill", _number(self.memory_dir / "memory.failcnt") or 0)
            peak = _number(self.memory_dir / "memory.max_usage_in_bytes")
        refusals = 0
        if self.pids_dir is not None:
            refusals = _keyed(_read(self.pids_dir / "pids.events")).get("max", 0)
        return LimitsReport(
            memory_limit_bytes=self.memory_bytes,
            process_limit=self.max_processes,
            memory_peak_bytes=peak,
            oom_kills=ooms,
            process_refusals=refusals,
            process_limit_known=self.pids_dir is not None,
        )

    def pids(self) -> set[int]:
        return {int(p) for folder in self.dirs for p in _read(folder / "cgroup.procs").split()}

    def kill(self, timeout_s: float = 10.0) -> None:
        """SIGKILL every process in the cgroup until none is left."""
        if self.version == 2 and (self.memory_dir / "cgroup.kill").exists():
            try:
                _write(self.memory_dir / "cgroup.kill", "1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        for folder in self.dirs:
            while folder.exists():
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


def _remove_stale(parent: Path) -> None:
    """Remove empty sandbox cgroups left by grader processes that no longer exist."""
    try:
        entries = list(parent.glob(f"{_PREFIX}*-*-*"))
    except OSError:
        return
    for folder in entries:
        pid = folder.name[len(_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                folder.rmdir()
            except OSError:
                pass


# ---------------------------------------------------------------- the shared ipc folder
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MNT_DETACH = 2, 4, 8, 2
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _fresh_host_uid() -> int:
    return HOST_UID_BASE + secrets.randbelow(HOST_UID_SPAN)


@dataclass
class IpcFolder:
    """The host folder shared with the kernel. As root: a size-limited tmpfs owned by the
    kernel's host uid while the kernel lives; otherwise the folder as it is, and each file
    the kernel writes is limited to ``limit_bytes`` (RLIMIT_FSIZE)."""

    path: Path
    host_uid: int | None  # the kernel's uid on the host; None: the grader's own
    limit_bytes: int
    mounted: bool = False
    _owner: tuple[int, int] | None = None

    @classmethod
    def prepare(cls, path: Path, limits: Limits) -> IpcFolder:
        path = Path(path)
        if os.geteuid() != 0:
            return cls(path, None, limits.ipc_bytes)
        folder = cls(path, _fresh_host_uid(), limits.ipc_bytes)
        uid = folder.host_uid
        options = f"size={max(limits.ipc_bytes, 64 * 1024)},mode=0700,uid={uid},gid={uid}".encode()
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, options) == 0:
            folder.mounted = True
            _OPEN.add(folder)
        else:  # no mount here (e.g. a container without CAP_SYS_ADMIN): hand it over
            stat = path.stat()
            folder._owner = (stat.st_uid, stat.st_gid)
            os.chown(path, uid, uid)
        return folder

    @property
    def file_size_limit(self) -> int | None:
        return None if self.mounted else self.limit_bytes

    def give(self, file: Path) -> None:
        """Let the kernel read a file the grader wrote here (e.g. the connection file)."""
        if self.host_uid is not None:
            os.chown(file, self.host_uid, self.host_uid)

    def release(self) -> None:
        """Unmount the tmpfs (its files go with it) or give the folder back."""
        if self.mounted:
            if _libc.umount2(os.fsencode(self.path), _MNT_DETACH) == 0:
                self.mounted = False
        elif self._owner is not None:
            try:
                os.chown(self.path, *self._owner)
            except OSError:
                pass
            self._owner = None
        _OPEN.discard(self)

    __hash__ = object.__hash__


# ---------------------------------------------------------------- the sandbox
def _python_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}
    return sorted(r for r in roots if r and os.path.isdir(r))


def _gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def _bwrap_version(bwrap: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in match.groups()) if match else ()


def kernel_environment(scratch: Path, limits: Limits) -> dict[str, str]:
    """The whole environment of a student kernel: nothing inherited from the instructor."""
    threads = str(max(1, limits.threads))
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch),
        "USER": "student",
        "LOGNAME": "student",
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


def _tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise SandboxError(f"{name} is not installed")
    return path


def wrap_command(
    command: list[str],
    scratch: Path,
    ipc_dir: Path,
    limits: Limits,
    *,
    cgroup_procs: list[str] = (),
    host_uid: int | None = None,
    file_size_limit: int | None = None,
    nproc_limit: int | None = None,
) -> list[str]:
    """The command line that runs ``command`` in the sandbox.

    ``sh`` first writes itself into the sandbox's cgroups (``cgroup_procs``), then
    prlimit sets the rlimits and bubblewrap builds the sandbox. ``host_uid`` (root only)
    is the uid the kernel gets on the host. Use ``Sandbox.command``, which fills these in.
    """
    root = os.geteuid() == 0
    chain = ["/bin/sh", "-c", 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"', "sh"]
    chain += [*cgroup_procs, "--"]
    rlimits = ["--core=0"]
    if file_size_limit:
        rlimits.append(f"--fsize={file_size_limit}")
    if nproc_limit:
        rlimits.append(f"--nproc={nproc_limit}")
    chain += [_tool("prlimit"), *rlimits, "--"]
    bwrap = [_tool("bwrap"), "--die-with-parent", "--new-session"]
    if root:  # privileged bubblewrap, no user namespace; setpriv below drops to host_uid
        bwrap += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        bwrap += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        bwrap += ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        bwrap += ["--disable-userns", "--cap-drop", "ALL"]
    bwrap += ["--proc", "/proc", "--dev", "/dev"]
    tmp, scratch_size = str(limits.tmp_bytes), str(limits.scratch_bytes)
    mounts: list[list[str]] = [
        ["--perms", "1777", "--size", tmp, "--tmpfs", "/tmp"],
        ["--perms", "1777", "--size", tmp, "--tmpfs", "/dev/shm"],
    ]
    for system_dir in SYSTEM_DIRS:
        if os.path.islink(system_dir):
            mounts.append(["--symlink", os.readlink(system_dir), system_dir])
        elif os.path.isdir(system_dir):
            mounts.append(["--ro-bind", system_dir, system_dir])
    mounts += [["--ro-bind", path, path] for path in ETC_FILES if os.path.exists(path)]
    for path in [*_python_roots(), str(PACKAGE_DIR), *limits.readonly_paths]:
        mounts.append(["--ro-bind", path, path])
    mounts += [["--dev-bind", device, device] for device in _gpu_devices()]
    mounts.append(["--perms", "1777", "--size", scratch_size, "--tmpfs", str(scratch)])
    mounts.append(["--bind", str(ipc_dir), str(ipc_dir)])
    bwrap += _with_parent_dirs(mounts)
    bwrap += ["--chdir", str(scratch), "--clearenv"]
    for key, value in kernel_environment(scratch, limits).items():
        bwrap += ["--setenv", key, value]
    bwrap.append("--")
    if root:
        uid = str(host_uid if host_uid is not None else _fresh_host_uid())
        bwrap += [_tool("setpriv"), "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all"]
        bwrap += ["--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return [*chain, *bwrap, *command]


def _with_parent_dirs(mounts: list[list[str]]) -> list[str]:
    """bubblewrap arguments for ``mounts``, each preceded by world-readable ``--dir``s for
    its missing parent folders (bubblewrap would make them 0700 as root: the kernel,
    another uid, could then not reach its own working folder or Python)."""
    host: list[Path] = []  # destinations showing host folders: nothing is made inside
    made: set[Path] = set()
    out: list[str] = []
    for mount in mounts:
        dest = Path(mount[-1])
        for parent in reversed(dest.parents):
            if parent == Path("/") or parent in made or any(parent == h or h in parent.parents for h in host):
                continue
            out += ["--perms", "0755", "--dir", str(parent)]
            made.add(parent)
        out += mount
        if "--tmpfs" not in mount:
            host.append(dest)
    return out


def limit_prefix(limits: Limits) -> list[str]:
    """prlimit arguments for an UNSANDBOXED kernel: an address-space cap (not with a
    GPU: it breaks CUDA). The sandbox uses a cgroup instead."""
    prlimit = shutil.which("prlimit")
    if prlimit is None or _gpu_devices() or limits.memory_bytes <= 0:
        return []
    return [prlimit, f"--as={limits.memory_bytes}", "--core=0", "--"]


_OPEN: set = set()  # sandboxes and ipc mounts to tear down at exit if nobody did


@atexit.register
def _close_all() -> None:
    for thing in list(_OPEN):
        try:
            thing.close() if isinstance(thing, Sandbox) else thing.release()
        except Exception:  # best effort at exit
            pass


class Sandbox:
    """One sandboxed process tree: its cgroup and its host uid.

    ``Sandbox(scratch, ipc, limits).command(cmd)`` gives the command line; start it with
    ``cwd=scratch``; ``close()`` kills whatever is left, removes the cgroup and returns
    the ``LimitsReport``. The kernel manager and ``run_in_sandbox`` both use this.
    """

    def __init__(self, scratch: Path, ipc: IpcFolder, limits: Limits):
        self.scratch, self.ipc, self.limits = Path(scratch), ipc, limits
        self.cgroup = Cgroup(find_hierarchies(), limits.memory_bytes, limits.max_processes)
        self.report: LimitsReport | None = None
        _OPEN.add(self)

    def command(self, command: list[str]) -> list[str]:
        nproc = None
        if self.cgroup.pids_dir is None and self.ipc.host_uid is not None:
            nproc = self.limits.max_processes  # per-sandbox host uid: RLIMIT_NPROC is its own
        return wrap_command(
            command,
            self.scratch,
            self.ipc.path,
            self.limits,
            cgroup_procs=self.cgroup.procs_files,
            host_uid=self.ipc.host_uid,
            file_size_limit=self.ipc.file_size_limit,
            nproc_limit=nproc,
        )

    def limits_report(self) -> LimitsReport:
        return self.report if self.report is not None else self.cgroup.report()

    def close(self) -> LimitsReport:
        if self.report is None:
            self.cgroup.kill()
            self.report = self.cgroup.report()
            self.cgroup.remove()
            _OPEN.discard(self)
        return self.report


@dataclass
class SandboxRun:
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    report: LimitsReport

    @property
    def limits_hit(self) -> list[str]:
        return self.report.sentences()


def run_in_sandbox(
    command: list[str], scratch: Path, ipc_dir: Path, limits: Limits, timeout_s: float = 60
) -> SandboxRun:
    """Run ``command`` in exactly the sandbox a kernel gets; kill it at ``timeout_s``."""
    ipc = IpcFolder.prepare(Path(ipc_dir), limits)
    try:
        sandbox = Sandbox(scratch, ipc, limits)
        try:
            process = subprocess.Popen(
                sandbox.command(command),
                cwd=scratch,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
            try:
                stdout, stderr = process.communicate(timeout=timeout_s)
                code = process.returncode
            except subprocess.TimeoutExpired:
                sandbox.cgroup.kill()
                process.kill()
                stdout, stderr = process.communicate()
                code = None
        finally:
            report = sandbox.close()
    finally:
        ipc.release()
    return SandboxRun(code, stdout, stderr, report)


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None when the sandbox works here, else why not (grading must then refuse)."""
    tools = ["bwrap", "prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    for name in tools:
        if shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin") is None:
            package = "bubblewrap" if name == "bwrap" else "util-linux"
            return f"{name} is not installed (Debian package '{package}')"
    version = _bwrap_version(_tool("bwrap"))
    if version < MIN_BWRAP:
        found = ".".join(map(str, version)) or "unknown"
        return f"bubblewrap {'.'.join(map(str, MIN_BWRAP))} or newer is needed (found {found})"
    try:
        find_hierarchies()
    except SandboxError as error:
        return str(error)
    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as tmp:
        scratch, ipc = Path(tmp) / "scratch", Path(tmp) / "ipc"
        scratch.mkdir()
        ipc.mkdir()
        try:
            run = run_in_sandbox([sys.executable, "-c", "import autograder"], scratch, ipc, Limits(), timeout_s=60)
        except (SandboxError, OSError) as error:
            return f"the sandbox could not be set up: {error}"
    if run.returncode != 0:
        detail = run.stderr.strip()[-500:] or f"exit status {run.returncode}"
        hint = " (the kernel runs as another uid: Python and this package must be readable by all)"
        return f"the sandbox could not start Python: {detail}{hint if os.geteuid() == 0 else ''}"
    return None


# ---------------------------------------------------------------- the kernel manager
class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel started inside the sandbox, reached over Unix sockets.

    After the kernel stopped (or while it runs), ``limits_hit()`` lists the limits it
    reached as sentences, and ``limits_report()`` gives the numbers. Shutting the kernel
    down (or ``cleanup_resources``) kills every process of its cgroup, removes the cgroup
    and, as root, unmounts the tmpfs on ``ipc_dir`` (mounted before the connection file is
    written there: read the kernel's files in ipc_dir before shutting it down).
    """

    scratch_dir = Unicode("", config=True, help="The kernel's working folder (a tmpfs inside).")
    ipc_dir = Unicode("", config=True, help="Folder shared with the grader (Unix sockets, files).")
    timeout_s = Integer(300, config=True)
    memory_bytes = Integer(4 * GiB, config=True, help="RAM+swap of the kernel and all its children.")
    threads = Integer(1, config=True)
    readonly_paths = List(Unicode(), [], config=True)
    max_processes = Integer(128, config=True, help="Processes and threads of the kernel and its children.")
    tmp_bytes = Integer(256 * MiB, config=True, help="Size of /tmp (and /dev/shm) in the sandbox.")
    scratch_bytes = Integer(256 * MiB, config=True, help="Size of the working folder in the sandbox.")
    ipc_bytes = Integer(512 * MiB, config=True, help="Size of ipc_dir (root) or of each file in it.")
    use_sandbox = Bool(True, config=True, help="False runs the kernel without bubblewrap (unsafe).")
    preload = List(Unicode(), [], config=True, help="Modules the kernel imports at start, binding no name.")

    _sandbox: Sandbox | None = None
    _ipc: IpcFolder | None = None
    _report: LimitsReport | None = None

    def _limits(self) -> Limits:
        return Limits(
            timeout_s=self.timeout_s,
            memory_bytes=self.memory_bytes,
            threads=self.threads,
            readonly_paths=list(self.readonly_paths),
            max_processes=self.max_processes,
            tmp_bytes=self.tmp_bytes,
            scratch_bytes=self.scratch_bytes,
            ipc_bytes=self.ipc_bytes,
        )

    def limits_report(self) -> LimitsReport | None:
        """The numbers of the running or last kernel; None without a sandbox."""
        if self._sandbox is not None:
            return self._sandbox.limits_report()
        return self._report

    def limits_hit(self) -> list[str]:
        """e.g. ['memory limit of 2.0 GiB reached', 'process limit of 128 reached']."""
        report = self.limits_report()
        return report.sentences() if report is not None else []

    def give_to_kernel(self, path: Path | str) -> None:
        """Let the kernel read (and replace) a file the grader wrote in ipc_dir. As root
        the kernel is another uid: a file made 0600 (mkstemp) is unreadable to it until
        given. Files the kernel writes there vanish when the kernel is shut down."""
        if self._ipc is not None:
            self._ipc.give(Path(path))

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt by message: a signal would reach bubblewrap, not the kernel inside."""
        if not self.use_sandbox:
            await super()._async_interrupt_kernel()
            return
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    interrupt_kernel = _async_interrupt_kernel

    async def _async_pre_start_kernel(self, **kw: object):
        # The tmpfs goes on ipc_dir before jupyter_client writes the connection file there.
        if self.use_sandbox and self._ipc is None:
            self._ipc = IpcFolder.prepare(Path(self.ipc_dir), self._limits())
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: object) -> None:
        scratch = Path(self.scratch_dir)
        limits = self._limits()
        startup = TRUSTED_STARTUP
        if self.preload:
            startup += f"; autograder.agent.preload({list(self.preload)!r})"
        kernel_cmd = [*kernel_cmd, f"--IPKernelApp.exec_lines={startup}"]
        kw["cwd"] = str(scratch)
        if not self.use_sandbox:
            warnings.warn(
                "student code runs WITHOUT a sandbox: it can read and write what this user can",
                SandboxWarning,
                stacklevel=2,
            )
            kw["env"] = kernel_environment(scratch, limits)
            await super()._async_launch_kernel([*limit_prefix(limits), *kernel_cmd], **kw)
            return
        assert self._ipc is not None
        self._close_sandbox()
        self._sandbox = Sandbox(scratch, self._ipc, limits)
        try:
            if self.connection_file and os.path.exists(self.connection_file):
                self._ipc.give(Path(self.connection_file))
            kw["env"] = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            await super()._async_launch_kernel(self._sandbox.command(kernel_cmd), **kw)
        except BaseException:
            self._close_sandbox()
            raise

    def _close_sandbox(self) -> None:
        if self._sandbox is not None:
            self._report = self._sandbox.close()
            self._sandbox = None

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """Kill every process of the kernel's cgroup, remove it, unmount the ipc tmpfs."""
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            self._close_sandbox()
            if not restart and self._ipc is not None:
                self._ipc.release()
                self._ipc = None

    cleanup_resources = _async_cleanup_resources


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.sandbox [options] -- COMMAND...``: run COMMAND in the
    sandbox a kernel gets and print a JSON record (exit status, output, limits hit)."""
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox", description=main.__doc__)
    defaults = Limits()
    parser.add_argument("--memory-bytes", type=int, default=defaults.memory_bytes)
    parser.add_argument("--max-processes", type=int, default=defaults.max_processes)
    parser.add_argument("--tmp-bytes", type=int, default=defaults.tmp_bytes)
    parser.add_argument("--scratch-bytes", type=int, default=defaults.scratch_bytes)
    parser.add_argument("--ipc-bytes", type=int, default=defaults.ipc_bytes)
    parser.add_argument("--readonly", action="append", default=[], help="extra read-only path")
    parser.add_argument("--scratch-dir", help="host folder to start in (default: a new temporary one)")
    parser.add_argument("--ipc-dir", help="host folder to share (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--check", action="store_true", help="only print sandbox_problem()")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args(argv)
    if args.check:
        problem = sandbox_problem()
        print(problem or "the sandbox works here")
        return 1 if problem else 0
    if not args.command:
        parser.error("no command given")
    limits = Limits(
        memory_bytes=args.memory_bytes,
        max_processes=args.max_processes,
        tmp_bytes=args.tmp_bytes,
        scratch_bytes=args.scratch_bytes,
        ipc_bytes=args.ipc_bytes,
        readonly_paths=args.readonly,
    )
    with tempfile.TemporaryDirectory(prefix="autograder-sandbox-") as tmp:
        scratch = Path(args.scratch_dir or Path(tmp) / "scratch")
        ipc = Path(args.ipc_dir or Path(tmp) / "ipc")
        scratch.mkdir(exist_ok=True)
        ipc.mkdir(exist_ok=True)
        try:
            run = run_in_sandbox(args.command, scratch, ipc, limits, timeout_s=args.timeout)
        except SandboxError as error:
            print(json.dumps({"error": str(error)}))
            return 2
    record = {**asdict(run), "limits_hit": run.limits_hit}
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
