"""A local service's life, driven as Kafka's and the registry's are, on a stand-in service.

The stand-in is a small HTTP server started under the name ``java`` by scripts of a deploy
folder made here, so the whole of :class:`LocalService` runs (ports kept, the running process
found by its command line, readiness, a start that fails or stalls) in a second.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_processors.errors import LocalStackError
from lineage_processors.local.ports import HOST
from lineage_processors.local.process import LocalService, Readiness
from lineage_processors.local.processes import alive

SERVER = """
import http.server, pathlib, sys, time
conf, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
mode = conf.read_text().strip()
if mode == "fail":
    sys.exit("stand-in: the configuration says fail")
if mode == "slow":
    time.sleep(600)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""
START = f"""set -eu
state=$2 port=$3
[ -f "$state/stand-in.conf" ] || echo ok > "$state/stand-in.conf"
cat > "$state/server.py" <<'PY'
{SERVER}
PY
# Started as `java`, Python cannot find its library from argv[0]: it is told where it is.
PYTHONHOME={sys.base_prefix} nohup bash -c 'exec -a java {sys.executable} "$0" "$1" "$2"' \\
    "$state/server.py" "$state/stand-in.conf" "$port" >> "$state/stand-in.log" 2>&1 &
pid=$!
# $! exists a moment before the exec: wait until the process is the stand-in (as lib.sh does).
for _ in $(seq 500); do
    tr '\\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q '^java ' && break
    sleep 0.01
done
echo "$pid" > "$state/stand-in.pid"
echo "$pid"
"""
STOP = """set -u
state=$1 stopped=
# The pid file is a hint: every process of this state folder's stand-in is stopped.
for cmdline in /proc/[0-9]*/cmdline; do
    tr '\\0' ' ' < "$cmdline" 2>/dev/null | grep -q "$state/stand-in.conf" || continue
    pid=${cmdline#/proc/}
    pid=${pid%/cmdline}
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    stopped=1
done
rm -f "$state/stand-in.pid"
if [ -n "$stopped" ]; then echo stopped; else echo "not running"; fi
"""
PROVISION = 'set -eu\n[ "$1" = --check ] && { echo "$2"; exit 0; }\necho "$1"\n'


class _Answers(Readiness):
    def __init__(self, port: int) -> None:
        self.url = f"http://{HOST}:{port}/"

    def check(self, remaining: float) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=min(remaining, 1.0)) as response:
                return bool(response.status == 200)
        except OSError as exc:
            self.problem = f"no answer: {exc}"
            return False


class StandIn(LocalService):
    START_SCRIPT = "start.sh"
    STOP_SCRIPT = "stop.sh"
    PID_FILE = "stand-in.pid"
    LOG_FILE = "stand-in.log"
    CONFIG_FILE = "stand-in.conf"
    ADDRESS_FILE = "address"
    PORT_KEYS = ("port",)
    KIND = "stand-in service"
    LABEL = "the stand-in"
    SHORT = "stand-in"
    NOT_READY = "did not answer on"
    TIMEOUT_SETTING = "STAND_IN_TIMEOUT"
    JAVA_HINT = "java is missing"
    MVN_HINT = "mvn is missing"

    def _scripts_missing(self, missing: str) -> str:
        return f"scripts missing: {missing}"

    def _port_taken(self, port: int) -> str:
        return f"port {port} is in use; see {self._ports_file}"

    def _address(self, port: int) -> str:
        return f"http://{HOST}:{port}"

    def _readiness(self, port: int) -> Readiness:
        return _Answers(port)

    def _is_our_command_line(self, args: list[str]) -> bool:
        return str(self._config_file) in args


@pytest.fixture
def service(tmp_path: Path) -> Iterator[StandIn]:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    for name, text in (("provision.sh", PROVISION), ("start.sh", START), ("stop.sh", STOP)):
        (deploy / name).write_text(text)
    made = StandIn(tmp_path / "state", tmp_path / "cache", deploy, start_timeout=30)
    yield made
    made.down()


def configure(service: StandIn, mode: str) -> None:
    service.state_dir.mkdir(parents=True, exist_ok=True)
    (service.state_dir / "stand-in.conf").write_text(mode + "\n")


def test_up_twice_runs_one_and_down_stops_it(service: StandIn) -> None:
    said: list[str] = []
    address = service.up(said.append)
    pid, running_at = service._running_address()
    assert pid is not None and running_at == address
    assert (service.state_dir / "address").read_text() == address + "\n"
    assert any(line.startswith("The stand-in is up at") for line in said)
    assert service.up(said.append) == address
    assert said[-1] == f"The stand-in is already running at {address} (pid {pid})"
    assert service.down() is True
    assert not alive(pid)
    assert service._running_address() == (None, None)
    assert not (service.state_dir / "address").exists()
    assert service.down() is False
    # The port is kept: the next start listens at the same address.
    assert service.up(said.append) == address


def test_the_running_process_is_found_without_its_pid_file(service: StandIn) -> None:
    service.up(lambda _: None)
    pid, _ = service._running_address()
    (service.state_dir / "stand-in.pid").unlink()
    assert service._running_address()[0] == pid
    assert service.down() is True and not alive(pid)


def test_a_stale_pid_file_is_not_trusted(service: StandIn) -> None:
    service.state_dir.mkdir(parents=True)
    (service.state_dir / "stand-in.pid").write_text(f"{os.getpid()}\n")
    assert service._running_address() == (None, None)


def test_a_service_that_exits_at_start_shows_the_cause(service: StandIn) -> None:
    configure(service, "fail")
    with pytest.raises(LocalStackError) as caught:
        service.up(lambda _: None)
    message = str(caught.value)
    assert "The stand-in service (pid " in message and "exited while starting" in message
    assert str(service.log_file) in message
    assert "stand-in: the configuration says fail" in message


def test_a_service_that_does_not_answer_in_time_is_stopped(service: StandIn) -> None:
    configure(service, "slow")
    service.start_timeout = 0.5
    with pytest.raises(LocalStackError) as caught:
        service.up(lambda _: None)
    message = str(caught.value)
    assert "did not answer on 127.0.0.1:" in message and "within 0.5 s (no answer" in message
    assert "It has been stopped again" in message and "STAND_IN_TIMEOUT" in message
    assert service._running_address() == (None, None)


def test_a_kept_port_held_by_another_process_is_reported(service: StandIn) -> None:
    with socket.socket() as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        service.state_dir.mkdir(parents=True)
        (service.state_dir / "ports.json").write_text(f'{{"port": {port}}}')
        with pytest.raises(LocalStackError, match=f"port {port} is in use; see .*ports.json"):
            service.up(lambda _: None)
    assert service._running_address() == (None, None)


def test_a_deploy_folder_without_the_scripts_is_reported(tmp_path: Path) -> None:
    with pytest.raises(
        LocalStackError, match=re.escape("scripts missing: provision.sh, start.sh, stop.sh")
    ):
        StandIn(tmp_path / "state", tmp_path / "cache", tmp_path, start_timeout=1)
