"""Where processes listen (helpers.tf_server.listening_sockets), and the checks of tests/conftest.py that fail a test or
a notebook that leaves a server listening (issue 29). The checks are run in an inner pytest session on purpose-made
leaky tests and notebooks; the TF server itself is measured in tests/test_tf_server.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from helpers.processes import ProcessGroup, wait_until
from helpers.tf_server import WILDCARD_ADDRESSES, Listener, listening_sockets

ROOT = Path(__file__).resolve().parent.parent

LISTENER = """
import socket, sys, time
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize(
    "ip, scope",
    [
        ("0.0.0.0", "every interface"),
        ("::", "every interface"),
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("192.168.1.20", "one interface"),
        ("fe80::1%eth0", "one interface"),
    ],
)
def test_scope_of_an_address(ip, scope):
    assert Listener(1, ip, 2222).scope == scope
    assert (ip in WILDCARD_ADDRESSES) == (scope == "every interface")


@pytest.mark.parametrize("pid", [0, -1, "1", 1.0, True, None])
def test_listening_sockets_rejects_what_is_not_a_pid(pid):
    with pytest.raises(ValueError, match="pid must be a positive integer"):
        listening_sockets(pid)


@pytest.mark.parametrize("host, scope", [("127.0.0.1", "loopback"), ("0.0.0.0", "every interface")])
def test_listening_sockets_reads_where_a_child_listens_and_sees_it_close(tmp_path, host, scope):
    log = tmp_path / "listener.log"
    with ProcessGroup() as group:
        proc = group.python(["-c", LISTENER, host], log=log)
        wait_until(lambda: log.read_text().strip() != "", 30, what="the listener's port", procs=[proc], log=log)
        port = int(log.read_text())
        assert listening_sockets(proc.pid) == [Listener(proc.pid, host, port)]
        assert listening_sockets(proc.pid)[0].scope == scope
        me = os.getpid()
        assert Listener(proc.pid, host, port) in listening_sockets(me, tree=True)  # a descendant of this process
        assert Listener(proc.pid, host, port) not in listening_sockets(me)  # without tree: this process only
    assert listening_sockets(proc.pid) == []  # stopped (and reaped): it listens on nothing


# ----------------------------------------------------------------------------- the checks, in an inner session
LEAKY_TEST = f"""
import subprocess, sys, time

def test_that_leaves_a_listener():
    child = subprocess.Popen([sys.executable, "-c", {LISTENER!r}, "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()  # it listens now; the test ends without stopping it

def test_that_stops_its_listener():
    child = subprocess.Popen([sys.executable, "-c", {LISTENER!r}, "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    child.kill()
    child.wait()
"""


def inner_pytest(tmp_path: Path, *args: str, workers: int = 0) -> subprocess.CompletedProcess:
    """pytest on ``args`` in ``tmp_path``, with this suite's conftest.py and nbval, none of pyproject's options.

    ``workers`` > 0 runs it as ``make test`` does: pytest-xdist workers, whole files each (``--dist loadfile``).
    """
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "DISTSAVE_LISTEN_GRACE": "1", "PYTHONPATH": str(ROOT)}
    xdist = ["-n", str(workers), "--dist", "loadfile"] if workers else ["-p", "no:xdist"]
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist, "-rA", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_a_unit_test_that_leaves_a_listener_fails_and_its_process_is_killed(tmp_path):
    (tmp_path / "test_leak.py").write_text(LEAKY_TEST)
    result = inner_pytest(tmp_path, "test_leak.py")
    out = result.stdout
    assert result.returncode == 1, out
    assert "ERROR test_leak.py::test_that_leaves_a_listener" in out, out
    assert "PASSED test_leak.py::test_that_stops_its_listener" in out, out
    assert "a process this test started is still listening" in out and "(loopback)" in out, out


def notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells]
    nbformat.write(nb, path)


@pytest.mark.parametrize("workers", [0, 2], ids=["one-process", "xdist-loadfile"])
def test_a_notebook_that_leaves_a_listener_fails_at_its_last_cell_and_one_that_stops_it_passes(tmp_path, workers):
    start = f"""
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", {LISTENER!r}, "0.0.0.0"], stdout=subprocess.PIPE, text=True)
    port = int(child.stdout.readline())
    """
    notebook(tmp_path / "leaky.ipynb", [start, "x = 1"])
    # Like the kernel's own TF server after tf.config.experimental_connect_to_cluster (lesson 05): a socket the kernel
    # itself listens on closes when nbval stops the kernel, which the check waits for.
    in_kernel = "import socket; own = socket.socket(); own.bind(('0.0.0.0', 0)); own.listen()"
    notebook(tmp_path / "tidy.ipynb", [start, in_kernel, "child.kill(); child.wait()", "x = 1"])
    result = inner_pytest(tmp_path, "--nbval-lax", "--nbval-current-env", "leaky.ipynb", "tidy.ipynb", workers=workers)
    out = result.stdout
    assert result.returncode == 1, out
    assert "ERROR leaky.ipynb::Cell 1" in out, out  # the last cell of the leaky notebook
    assert "leaky.ipynb: a process it started still listens after the last cell" in out, out
    assert "(every interface)" in out, out
    assert "tidy.ipynb" in out and "ERROR tidy.ipynb" not in out and "FAILED tidy.ipynb" not in out, out
