"""The student-kernel sandbox against the attacks that once broke it.

Each attack runs real code in exactly the sandbox a kernel gets (``run_in_sandbox``, the
code path of ``SandboxedKernelManager``), twice: with the grader as root (as CI runs) and
with the grader as an ordinary user (uid 65534, through ``python -m autograder.sandbox``,
in a cgroup delegated to that user as systemd would).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.sandbox import GiB, Limits, MiB

ROOT = Path(__file__).resolve().parent.parent
USER = 65534
IS_ROOT = os.geteuid() == 0

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux only")


# ---------------------------------------------------------------- running as root or as a user
def _user_python() -> tuple[str, dict[str, str]] | str:
    """An interpreter uid 65534 can run with this environment's packages, or why none."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(ROOT)]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for python in dict.fromkeys([sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]):
        # setpriv keeps root's capabilities until it executes the program: check that the
        # interpreter itself (not only its path) is reachable for the user
        check = "import os, sys, autograder.sandbox; sys.exit(not os.access(os.path.realpath(sys.executable), os.X_OK))"
        probe = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups", python, "-c", check]
        if os.path.exists(python) and subprocess.run(probe, env=env, capture_output=True).returncode == 0:
            return python, env
    return f"no Python {version} that uid {USER} can run with this environment's packages (here it lives under /root)"


class Delegation:
    """A cgroup the ordinary user may manage, as systemd's Delegate=yes gives one."""

    def __init__(self) -> None:
        found = sandbox.find_hierarchies()
        name = f"grader-test-user-{os.getpid()}"
        parents = [found.memory] if found.version == 2 else [found.memory, found.pids]
        self.dirs = [parent / name for parent in parents if parent is not None]
        for folder in self.dirs:
            folder.mkdir(exist_ok=True)
            os.chown(folder, USER, USER)
            for entry in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads", "tasks"):
                if (folder / entry).exists():
                    os.chown(folder / entry, USER, USER)

    def remove(self) -> None:
        for folder in self.dirs:
            for child in [p for p in folder.iterdir() if p.is_dir()]:
                child.rmdir()  # the sandboxes' cgroups are gone already: only v2's leaf is left
            folder.rmdir()


@pytest.fixture(scope="module")
def user_setup():
    if not IS_ROOT:
        return None
    found = _user_python()
    if isinstance(found, str):
        pytest.skip(found)
    delegation = Delegation()
    yield (*found, delegation)
    delegation.remove()


@pytest.fixture(params=["root", "user"])
def mode(request) -> str:
    if request.param == "root" and not IS_ROOT:
        pytest.skip("the tests run as an ordinary user: the root variant needs root")
    if request.param == "user" and IS_ROOT:
        request.getfixturevalue("user_setup")
    problem = sandbox.sandbox_problem()
    if problem and IS_ROOT:
        pytest.fail(f"the sandbox does not work here: {problem}")
    if problem:
        pytest.skip(f"the sandbox cannot work for this user: {problem}")
    return request.param


@pytest.fixture
def host(mode, request) -> dict:
    """Host folders for one run: scratch and ipc, owned by whoever runs the grader."""
    base = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    os.chmod(base, 0o755)
    scratch, ipc = base / "scratch", base / "ipc"
    scratch.mkdir()
    ipc.mkdir()
    if mode == "user" and IS_ROOT:
        for folder in (base, scratch, ipc):
            os.chown(folder, USER, USER)
    yield {"base": base, "scratch": scratch, "ipc": ipc, "mode": mode}
    shutil.rmtree(base, ignore_errors=True)


def run(host: dict, request: pytest.FixtureRequest, code: str, limits: Limits | None = None, timeout: float = 60) -> dict:
    """Run ``python -c code`` in the sandbox; the run's record, with ``out`` = its JSON output."""
    limits = limits or Limits()
    if host["mode"] == "root" or not IS_ROOT:
        result = sandbox.run_in_sandbox(
            [sys.executable, "-c", code], host["scratch"], host["ipc"], limits, timeout_s=timeout
        )
        record = {**result.__dict__, "report": result.report.__dict__, "limits_hit": result.limits_hit}
    else:
        python, env, delegation = request.getfixturevalue("user_setup")
        join = "".join(f'echo $$ > "{folder}/cgroup.procs" && ' for folder in delegation.dirs)
        command = [
            "setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups",
            python, "-m", "autograder.sandbox",
            f"--memory-bytes={limits.memory_bytes}", f"--max-processes={limits.max_processes}",
            f"--tmp-bytes={limits.tmp_bytes}", f"--scratch-bytes={limits.scratch_bytes}",
            f"--ipc-bytes={limits.ipc_bytes}", f"--timeout={timeout}",
            f"--scratch-dir={host['scratch']}", f"--ipc-dir={host['ipc']}",
            "--", python, "-c", code,
        ]  # fmt: skip
        done = subprocess.run(
            ["sh", "-c", join + 'exec "$@"', "sh", *command], env=env, capture_output=True, text=True, timeout=timeout + 30
        )
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
    lines = record["stdout"].strip().splitlines()
    record["out"] = json.loads(lines[-1]) if lines and lines[-1][:1] in "{[" else None
    assert record["out"] is not None or timeout < 60, f"no result: {record['stderr'][-2000:]}"
    return record


# ---------------------------------------------------------------- one test per attack
def test_kernel_is_not_root_and_has_no_capabilities(host, request):
    record = run(host, request, """if 1:
        import json, os, subprocess
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        nested = subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode
        print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "nested": nested,
                          **{k: status[k].split()[0] for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs")}}))
    """)
    out = record["out"]
    assert out["uid"] != 0 and out["gid"] != 0 and 0 not in out["groups"]
    assert int(out["CapEff"], 16) == int(out["CapPrm"], 16) == int(out["CapBnd"], 16) == int(out["CapAmb"], 16) == 0
    assert out["NoNewPrivs"] == "1"
    if host["mode"] == "user":
        assert out["nested"] != 0, "a user namespace inside the sandbox could be made"


def test_read_only_mounts_cannot_be_remounted_or_written(host, request):
    marker = f"sandbox-marker-{uuid.uuid4().hex}"
    record = run(host, request, f"""if 1:
        import ctypes, json, os, subprocess, sysconfig
        targets = [os.path.dirname(os.__file__), sysconfig.get_paths()["purelib"], "/usr/bin", {str(sandbox.PACKAGE_DIR)!r}]
        libc = ctypes.CDLL(None, use_errno=True)
        result = {{"targets": targets, "mounted": [], "written": []}}
        for target in targets:
            attempts = [
                ["mount", "-o", "remount,bind,rw", target],
                ["unshare", "-Urm", "sh", "-c", f"mount -o remount,bind,rw {{target}} && touch {{target}}/{marker}"],
            ]
            for attempt in attempts:
                if subprocess.run(attempt, capture_output=True).returncode == 0:
                    result["mounted"].append(attempt)
            if libc.mount(None, target.encode(), None, 32 | 4096, None) == 0:  # MS_REMOUNT | MS_BIND
                result["mounted"].append(["mount(2)", target])
            try:
                open(os.path.join(target, "{marker}"), "w").write("x")
                result["written"].append(target)
            except OSError:
                pass
        print(json.dumps(result))
    """)
    out = record["out"]
    assert out["mounted"] == [] and out["written"] == []
    for target in out["targets"]:
        assert not (Path(target) / marker).exists(), f"the sandbox wrote into the host's {target}"


def test_memory_limit_holds_for_the_kernel_and_its_children_together(host, request):
    # 5 children each writing 1 GiB under 2 GiB; the user variant at half scale (same
    # cgroup mechanism) since touching memory costs ~1.5 s per GiB on small CI machines
    block = GiB if host["mode"] == "root" else GiB // 2
    limits = Limits(memory_bytes=2 * block)
    record = run(host, request, f"""if 1:
        import json, os, time
        children = []
        for _ in range(5):
            pid = os.fork()
            if pid == 0:
                try:
                    block = b"\\1" * {block}  # every page written
                    time.sleep(1)
                finally:
                    os._exit(0)
            children.append(pid)
        statuses = [os.waitpid(pid, 0)[1] for pid in children]
        print(json.dumps({{"killed": sum(os.WIFSIGNALED(s) for s in statuses),
                          "ok": sum(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses)}}))
    """, limits)
    assert record["out"]["killed"] >= 3, record["out"]  # 5 blocks cannot fit in the room of 2
    assert record["out"]["ok"] <= 2
    peak = record["report"]["memory_peak_bytes"]
    assert peak is None or peak <= limits.memory_bytes
    assert f"memory limit of {sandbox._size(limits.memory_bytes)} reached" in record["limits_hit"]


def test_fork_bomb_stops_at_the_process_limit(host, request):
    record = run(host, request, """if 1:
        import json, os, time
        started, refused = [], 0
        for _ in range(500):
            try:
                pid = os.fork()
            except OSError:
                refused += 1
                continue
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            started.append(pid)
        print(json.dumps({"started": len(started), "refused": refused}), flush=True)
        os._exit(0)
    """, Limits(max_processes=64))
    assert record["out"]["started"] < 64 and record["out"]["refused"] > 400
    assert "process limit of 64 reached" in record["limits_hit"]


def test_tmp_shm_and_scratch_are_size_limited(host, request):
    limits = Limits()
    record = run(host, request, """if 1:
        import json, os
        chunk = b"\\0" * (1 << 20)
        result = {}
        for folder in ("/tmp", "/dev/shm", os.getcwd(), os.environ["HOME"]):
            written, error = 0, None
            try:
                with open(os.path.join(folder, "big"), "wb") as handle:
                    while written < (1 << 30):
                        handle.write(chunk)
                        handle.flush()
                        written += len(chunk)
            except OSError as exc:
                error = exc.errno
            result[folder] = [written, error]
            os.remove(os.path.join(folder, "big"))
        print(json.dumps(result))
    """, limits)
    assert os.listdir(host["scratch"]) == [], "the scratch folder is the host's"
    for folder, (written, error) in record["out"].items():
        limit = limits.scratch_bytes if folder.startswith(str(host["scratch"])) else limits.tmp_bytes
        assert error == 28 and written <= limit, (folder, written, error)  # ENOSPC


def test_ipc_folder_is_size_limited(host, request):
    limits = Limits(ipc_bytes=32 * MiB)
    record = run(host, request, f"""if 1:
        import json
        written, error = 0, None
        try:
            with open({str(host["ipc"] / "reply")!r}, "wb") as handle:
                while written < (256 << 20):
                    handle.write(b"\\0" * (1 << 20))
                    handle.flush()
                    written += 1 << 20
        except OSError as exc:
            error = exc.errno
        print(json.dumps([written, error]))
    """, limits)
    written, error = record["out"]
    assert error in (27, 28) and written <= limits.ipc_bytes  # EFBIG (user) or ENOSPC (root)


def test_no_network_to_the_host(host, request):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX)
    name = f"\0sandbox-test-{uuid.uuid4().hex}"
    abstract.bind(name)
    abstract.listen()
    abstract.setblocking(False)
    try:
        record = run(host, request, f"""if 1:
            import json, socket
            result = {{}}
            for family, address in [(socket.AF_INET, ("127.0.0.1", {server.getsockname()[1]})),
                                    (socket.AF_UNIX, {name!r})]:
                try:
                    socket.socket(family).connect(address)
                    result[str(address)] = "connected"
                except OSError as exc:
                    result[str(address)] = exc.strerror
            print(json.dumps(result))
        """)
        assert "connected" not in record["out"].values(), record["out"]
        for listener in (server, abstract):
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        server.close()
        abstract.close()


def test_secrets_of_the_host_are_not_visible(host, request):
    secret_dir = host["base"] / "course"
    (secret_dir / "solutions").mkdir(parents=True)
    (secret_dir / "solutions" / "answers.ipynb").write_text("{}")
    (secret_dir / "gradebook.db").write_text("grades")
    (host["scratch"] / "left-by-host.txt").write_text("x")
    root_secret = Path("/root") / f"sandbox-test-secret-{uuid.uuid4().hex}"
    if IS_ROOT:
        root_secret.write_text("secret")
    paths = [str(root_secret), str(secret_dir / "solutions"), str(secret_dir / "gradebook.db"),
             str(ROOT / "solutions"), str(ROOT / "exercises"), str(host["scratch"] / "left-by-host.txt")]  # fmt: skip
    try:
        record = run(host, request, f"""if 1:
            import json, os
            listing = lambda p: sorted(os.listdir(p)) if os.path.isdir(p) else None
            print(json.dumps({{"seen": [p for p in {paths!r} if os.path.exists(p)],
                              "root": listing("/root"), "etc": listing("/etc"), "home": listing("/home")}}))
        """)
    finally:
        root_secret.unlink(missing_ok=True)
    out = record["out"]
    assert out["seen"] == []
    # /root shows at most the way to a Python installed under it (here: pyenv)
    allowed_root = {Path(p).relative_to("/root").parts[0] for p in sandbox._python_roots() if p.startswith("/root/")}
    assert set(out["root"] or []) <= allowed_root
    assert out["home"] is None
    assert set(out["etc"]) <= {"alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime"}


def test_everything_is_killed_and_removed_afterwards(host, request):
    marker = f"sandbox-leftover-{uuid.uuid4().hex}"
    record = run(host, request, f"""if 1:
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"], start_new_session=True)
        time.sleep(300)
    """, timeout=3)
    assert record["returncode"] is None  # killed at the time limit
    time.sleep(0.2)
    leftovers = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                leftovers.append(proc.name)
        except OSError:
            pass
    assert leftovers == []
    if host["mode"] == "root":  # other graders may share these parents: only ours count
        found = sandbox.find_hierarchies()
        parents, pattern = [p for p in (found.memory, found.pids) if p is not None], f"autograder-{os.getpid()}-*"
    elif IS_ROOT:
        parents, pattern = request.getfixturevalue("user_setup")[2].dirs, "autograder-*-*-*"
    else:
        parents, pattern = [], ""
    for parent in parents:
        assert not list(parent.glob(pattern)), "a sandbox cgroup was left"
    assert str(host["ipc"]) not in Path("/proc/self/mountinfo").read_text()


# ---------------------------------------------------------------- the kernel manager, torch
@pytest.mark.skipif(not IS_ROOT, reason="the user variant of the kernel manager is the same code as above")
def test_kernel_manager_limits_and_clean_up(tmp_path):
    problem = sandbox.sandbox_problem()
    assert problem is None, problem
    scratch, ipc = tmp_path / "scratch", Path(tempfile.mkdtemp(prefix="cnnk-"))
    scratch.mkdir()

    async def session() -> tuple[list, sandbox.SandboxedKernelManager, str, bool]:
        km = sandbox.SandboxedKernelManager(
            scratch_dir=str(scratch), ipc_dir=str(ipc), transport="ipc", ip=str(ipc / "k"),
            connection_file=str(ipc / "kernel.json"), memory_bytes=GiB,
        )  # fmt: skip
        await km.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
        mounted = f" {ipc} " in Path("/proc/self/mountinfo").read_text()
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            outputs = []
            reply = await client.execute_interactive(
                "import os; print(os.getuid())", timeout=30, output_hook=lambda m: outputs.append(m)
            )
            assert reply["content"]["status"] == "ok"
            uid = "".join(m["content"].get("text", "") for m in outputs).strip()
            client.execute("hog = b'1' * (2 << 30)")
            for _ in range(100):
                if not await km.is_alive():
                    break
                await asyncio.sleep(0.1)
            hit_while_running = km.limits_hit()
        finally:
            client.stop_channels()
            await km.shutdown_kernel(now=True)
        return hit_while_running, km, uid, mounted

    hit_while_running, km, uid, mounted = asyncio.run(session())
    try:
        assert uid.isdigit() and int(uid) != 0
        assert mounted, "ipc_dir was not a tmpfs of its own"
        assert hit_while_running == km.limits_hit() == ["memory limit of 1.0 GiB reached"]
        assert km.limits_report().memory_peak_bytes <= GiB
        assert f" {ipc} " not in Path("/proc/self/mountinfo").read_text()
        found = sandbox.find_hierarchies()
        assert not list(found.memory.glob(f"autograder-{os.getpid()}-*"))
    finally:
        shutil.rmtree(ipc, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="needs this environment's torch: run as root in CI")
def test_default_limits_let_torch_run(tmp_path):
    (tmp_path / "scratch").mkdir()
    (tmp_path / "ipc").mkdir()
    code = "import torch; x = torch.randn(512, 512); print(float((x @ x).sum()) == float((x @ x).sum()))"
    result = sandbox.run_in_sandbox([sys.executable, "-c", code], tmp_path / "scratch", tmp_path / "ipc", Limits())
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr[-2000:]
    assert result.limits_hit == []


# ---------------------------------------------------------------- cgroup v2 and refusals
def test_cgroup_v2_layout_and_report(tmp_path):
    """The v2 code path on a fake hierarchy (this CI machine has v1 memory and pids)."""
    proc, cgroups = tmp_path / "proc", tmp_path / "cg"
    proc.mkdir()
    (proc / "mountinfo").write_text(f"41 31 0:38 / {cgroups} rw,relatime - cgroup2 cgroup2 rw\n")
    (proc / "cgroup").write_text("0::/user.slice/grader.scope/autograder-grader\n")
    base = cgroups / "user.slice" / "grader.scope"
    (base / "autograder-grader").mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpu memory pids\n")
    (base / "cgroup.subtree_control").write_text("memory pids\n")
    found = sandbox.find_hierarchies(proc)
    assert found == sandbox.Hierarchies(2, base, base)
    group = sandbox.Cgroup(found, 2 * GiB, 64)
    (folder,) = group.dirs
    assert (folder / "memory.max").read_text() == str(2 * GiB)
    assert (folder / "pids.max").read_text() == str(64 + sandbox.BWRAP_TASKS)
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    (folder / "pids.events").write_text("max 7\n")
    assert group.report().sentences() == ["memory limit of 2.0 GiB reached", "process limit of 64 reached"]
    for entry in folder.iterdir():
        entry.unlink()
    group.remove()
    assert not folder.exists()


def test_refusals_say_why(tmp_path, monkeypatch):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text("")
    (proc / "cgroup").write_text("0::/\n")
    with pytest.raises(sandbox.SandboxError, match="no usable cgroup"):
        sandbox.find_hierarchies(proc)
    sandbox.sandbox_problem.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None)
    try:
        assert "bwrap is not installed" in sandbox.sandbox_problem()
    finally:
        sandbox.sandbox_problem.cache_clear()
