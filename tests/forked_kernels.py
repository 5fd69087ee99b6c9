"""Notebook kernels forked from a process that has already imported TensorFlow (make test only).

Every notebook test starts a fresh kernel, and each kernel's first import (TensorFlow and Keras)
costs seconds of CPU, again in each of the 60-odd notebook runs of `make test`.
Here each pytest worker starts one *zygote* (`serve`): a process that imports the third-party
libraries a kernel imports first (TensorFlow, Keras, NumPy, pandas, ipykernel), and nothing of
`utils` (its modules read environment variables when imported). `ForkedKernelManager`, which
`conftest.py` hands to papermill, asks the zygote for each kernel: the zygote forks, and the
child sets the kernel's environment, folder and `sys.path`, starts its own session and runs
ipykernel, as `python -m ipykernel_launcher -f CONNECTION_FILE` would. The notebook then starts
with an empty namespace in a new process, as in a fresh kernel; what it imports first is
already loaded.

No TensorFlow operation runs in the zygote, so no thread pool exists when it forks. On a system
without `fork` (Windows), or for a kernel that is not ipykernel, the kernel starts as usual.
`tests/test_forked_kernels.py` checks that a forked kernel is a fresh one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

#: What the zygote imports: the first imports of every notebook, none of `utils`.
PRELOADED = ("tensorflow", "keras", "numpy", "pandas", "ipykernel.kernelapp")
IPYKERNEL = ["-m", "ipykernel_launcher"]


def serve(address: str) -> None:
    """The zygote: import `PRELOADED`, then fork a kernel for each request on the Unix socket
    `address` (one JSON line: argv, env, cwd; the answer: the child's pid) until the process
    that started it ends."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    own = _pythonpath(os.environ)
    base = [p for p in sys.path if p not in own]  # what any interpreter here starts with
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, _reap)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(address)
    server.listen(8)
    server.settimeout(1.0)
    while os.getppid() == parent:
        try:
            connection, _ = server.accept()
        except TimeoutError:
            continue
        with connection:
            connection.settimeout(None)
            request = json.loads(connection.makefile().readline())
            pid = os.fork()
            if pid == 0:  # the kernel
                server.close()
                connection.close()
                _run_kernel(**request, base=base)
            connection.sendall(f"{pid}\n".encode())


def _reap(signum, frame) -> None:
    """The zygote's children are the kernels: collect each one's exit at once."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _pythonpath(env) -> list[str]:
    return [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]


def _run_kernel(argv: list[str], env: dict, cwd: str, base: list[str]) -> None:
    """In the forked child: become `python -m ipykernel_launcher ...` in `cwd` with `env`."""
    import importlib

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # its own process group, as jupyter_client starts a kernel
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.path[:] = [cwd, *_pythonpath(env), *base]  # as python -m would start, in cwd
        importlib.invalidate_caches()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        sys.argv = ["ipykernel_launcher", *argv[3:]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
    except BaseException:  # papermill then reports a dead kernel: say why on stderr
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class ForkedProcess:
    """What jupyter_client's `LocalProvisioner` needs of a `subprocess.Popen`, for a kernel the
    zygote forked (so the zygote, not this process, collects its exit)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkedProvisioner(LocalProvisioner):
    """Starts an ipykernel by asking the zygote (its socket: `BIRNN_KERNEL_ZYGOTE`) for a fork;
    any other kernel, or with no zygote, as usual."""

    async def launch_kernel(self, cmd, **kwargs):
        address = os.environ.get("BIRNN_KERNEL_ZYGOTE")
        if not address or list(cmd[1:3]) != IPYKERNEL:
            return await super().launch_kernel(cmd, **kwargs)
        request = {"argv": list(cmd), "env": dict(kwargs.get("env") or os.environ),
                   "cwd": str(kwargs.get("cwd") or Path.cwd())}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(address)
            client.sendall((json.dumps(request) + "\n").encode())
            pid = int(client.makefile().readline())
        self.process = ForkedProcess(pid)
        self.pid = self.pgid = pid  # the child called setsid: its group is its pid
        self.cwd = request["cwd"]
        return self.connection_info


class ForkedKernelManager(AsyncKernelManager):
    """papermill's kernel manager for `make test`: kernels come from this process's zygote,
    started with the first kernel."""

    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:
            _ensure_zygote()
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ForkedProvisioner(kernel_id=self.kernel_id,
                                                 kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


_ZYGOTE: list = []  # [the zygote's process], once started (or tried)


def _ensure_zygote() -> None:
    if not _ZYGOTE:
        import atexit
        import tempfile

        _ZYGOTE.append(start_zygote(Path(tempfile.mkdtemp(prefix="birnn-zygote-"))))
        if _ZYGOTE[0] is not None:
            atexit.register(_ZYGOTE[0].kill)


def start_zygote(folder: Path) -> subprocess.Popen | None:
    """Start a zygote listening in `folder`; set `BIRNN_KERNEL_ZYGOTE` for the kernels of this
    process. Returns the zygote's process (None where there is no `fork`)."""
    if not hasattr(os, "fork") or sys.platform == "darwin":
        return None
    address = str(folder / "zygote.sock")
    process = subprocess.Popen([sys.executable, __file__, "serve", address],
                               stdin=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    for _ in range(600):  # the imports take a few seconds
        if Path(address).exists():
            os.environ["BIRNN_KERNEL_ZYGOTE"] = address
            return process
        if process.poll() is not None:
            return None
        time.sleep(0.05)
    process.kill()
    return None


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.path.pop(0)  # not tests/ first: its modules must not shadow others
    serve(sys.argv[2])
