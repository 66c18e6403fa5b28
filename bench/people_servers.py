"""The processes of bench/concurrent_people.py: Streamlit servers on one store, the proxy in
front of them, and what they use (memory, threads, CPU, connections), read from /proc."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kpis_browser import _free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def uptime() -> str:
    return os.popen("uptime").read().strip()


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return fields


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a process."""
    fields = _status(pid)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def threads(pid: int) -> int:
    """Threads of a process: each DuckDB database alive in it has about nine, so their count
    tells whether old copies of the store are freed."""
    return int(_status(pid)["Threads"])


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds of a process and of its children it has reaped (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / _TICK  # utime stime cutime cstime


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat)."""
    cols = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(cols) - cols[3] - cols[4]) / _TICK  # all but idle and iowait


def chromium_pids() -> list[int]:
    """Every Chromium process started below this one by Playwright (browser, zygotes, GPU,
    renderers; not the one a CLI `report` starts for its charts)."""
    parent, comm = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                head, rest = d.joinpath("stat").read_text().rsplit(")", 1)
                parent[int(d.name)], comm[int(d.name)] = int(rest.split()[1]), head.split("(", 1)[1]

    def below_me(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
            if comm.get(pid, "").startswith("python"):  # a CLI command's own Chromium
                return False
        return False

    return [p for p, c in comm.items() if c.startswith("chrom") and below_me(p)]


def chromium_cpu_s() -> float:
    """CPU seconds of the Chromium processes below this one, those they have reaped included."""
    total = 0.0
    for pid in chromium_pids():
        with contextlib.suppress(OSError):
            total += cpu_s(pid)
    return total


def renice_chromium(nice: int) -> None:
    """Give every thread of the Chromium processes below this one the niceness `nice` (Chromium
    raises some of its own threads to -8 when it may): the servers come first, as when the
    browsers run on the people's own machines."""
    for pid in chromium_pids():
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    if os.getpriority(os.PRIO_PROCESS, int(task.name)) != nice:
                        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


# --- servers ------------------------------------------------------------------------------

@dataclass
class Server:
    proc: subprocess.Popen
    base: str
    log: Path


def start_servers(db_path: Path, work: Path, k: int, behind_proxy: bool = False) -> list[Server]:
    secrets = work / "secrets.toml"
    secrets.write_text("", encoding="utf-8")  # local mode, whatever the developer's secrets say
    env = {**os.environ, "HYPERCARE_DB": str(db_path), "HYPERCARE_NO_DEMO": "1",
           "HYPERCARE_PROFILES": str(work / "profiles")}
    if behind_proxy:
        # Local mode refuses forwarded requests; the bench's proxy listens on loopback only.
        env["HYPERCARE_LOCAL_BEHIND_PROXY"] = "1"
    servers = []
    for i in range(k):
        port = _free_port()
        log = work / f"streamlit-{i}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--secrets.files", str(secrets)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        servers.append(Server(proc, f"http://127.0.0.1:{port}", log))
    deadline = time.monotonic() + 90
    for s in servers:
        while True:
            try:
                with urllib.request.urlopen(f"{s.base}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if s.proc.poll() is not None or time.monotonic() > deadline:
                stop_servers(servers)
                raise RuntimeError(f"streamlit did not start; see {s.log}")
            time.sleep(0.25)
    return servers


def start_proxy(kind: str, servers: list[Server], work: Path) -> tuple[subprocess.Popen, str]:
    """Caddy or nginx in front of the servers, with the sample configuration of deploy/ (its
    ports replaced); returns (process, the proxy's base URL)."""
    port = _free_port()
    backends = [s.base.removeprefix("http://") for s in servers]
    log = work / f"{kind}.log"
    if kind == "caddy":
        text = (REPO_ROOT / "deploy" / "Caddyfile.example").read_text(encoding="utf-8")
        text, n = re.subn(r"reverse_proxy 127\.0\.0\.1:8501 127\.0\.0\.1:8502",
                          "reverse_proxy " + " ".join(backends), text)
        text, m = re.subn(r"^:8080 \{", f":{port} {{", text, flags=re.M)
        assert n == 1 and m == 1, "deploy/Caddyfile.example changed: update start_proxy"
        conf = work / "Caddyfile"
        conf.write_text("{\n\tadmin off\n\tauto_https off\n}\n" + text, encoding="utf-8")
        argv = ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]
    else:
        text = (REPO_ROOT / "deploy" / "nginx.conf.example").read_text(encoding="utf-8")
        lines = "".join(f"        server {b} max_fails=3 fail_timeout=30s;\n" for b in backends)
        text, n = re.subn(r"(        server 127\.0\.0\.1:850\d [^\n]*\n)+", lines, text)
        text, m = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", text)
        assert n == 1 and m == 1, "deploy/nginx.conf.example changed: update start_proxy"
        text = text.replace("http {", f"http {{\n    access_log {work / 'nginx-access.log'};", 1)
        conf = work / "nginx.conf"
        conf.write_text(text, encoding="utf-8")
        argv = ["nginx", "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf),
                "-g", f"daemon off; pid {work / 'nginx.pid'};"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"{kind} did not start; see {log}")
        time.sleep(0.25)


def established(port: int) -> int:
    """Established TCP connections to a local listening port (server side), from /proc."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    n += 1
    return n


def stop_servers(servers: list[Server]) -> None:
    for s in servers:
        s.proc.terminate()
    for s in servers:
        try:
            s.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(timeout=10)
