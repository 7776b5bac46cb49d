"""Start the app's server for a test or a benchmark, and stop it again: one helper for tests/ and bench/.

    from devserver import start
    with start() as srv:                      # python serve.py on a free loopback port, healthy when this returns
        urllib.request.urlopen(srv.url + "/tokens")

``start(argv=...)`` runs another entry point with the same flags (e.g. ``["-m", "bench.load", "--serve"]``, a
serve.py wrapped to count model loads). The server runs in its own process group; ``stop()`` sends SIGTERM to
that group (SIGKILL after a grace period), so the uvicorn worker and anything the app started go with it.
Nothing here imports streamlit or the app: bench/ and tests/ may both import it (they do not import each other).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent
START_TIMEOUT_S = 240  # serve.py loads torch, transformers and both models before it listens


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def health(url: str, timeout: float = 2) -> str | None:
    """The body of ``url``/_stcore/health ("ok" when the server is up), or None."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.read().decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError):
        return None


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `make run` gives the server (no telemetry, no tokenizer threads, two malloc arenas, a fixed
    mmap threshold: see the Makefile)."""
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", PYTHONUNBUFFERED="1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "1048576")
    env.update(extra or {})
    return env


def stop_process(proc: subprocess.Popen, sig: int, grace_s: float, group: bool = True) -> None:
    """Send ``sig`` to the process (its whole process group when ``group``: it was started in a session of its
    own), SIGKILL it if it has not exited after ``grace_s``; a process that is already gone is fine."""
    if proc.poll() is not None:
        return
    kill = os.killpg if group else os.kill
    try:
        kill(proc.pid, sig)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        try:
            kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class DevServer:
    proc: subprocess.Popen
    port: int
    log: Path
    host: str = "127.0.0.1"
    started_s: float = 0.0  # process start -> healthy
    warmed_s: float | None = None  # process start -> serve.py's warm-up done (None: not waited for)
    _keep_log: bool = field(default=True, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.url

    def __enter__(self) -> "DevServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the server process in MiB, from /proc (VmRSS, VmHWM)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)}
        return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM the server's process group; SIGKILL it if it has not exited after ``grace_s``."""
        stop_process(self.proc, signal.SIGTERM, grace_s)
        if not self._keep_log:
            self.log.unlink(missing_ok=True)


WARMED, WARM_FAILED = "Models loaded in", "Warm-up stopped"  # serve.py's lines when its warm-up ends


def start(argv: list[str] | None = None, *, log: Path | str | None = None, port: int | None = None,
          host: str = "127.0.0.1", env: dict[str, str] | None = None,
          timeout: float = START_TIMEOUT_S, kind: type[DevServer] = DevServer, warm: bool | None = None) -> DevServer:
    """``python serve.py`` (or ``python *argv``) on ``port`` (a free one by default), headless, bound to ``host``;
    returns once /_stcore/health says "ok" and, with ``warm`` (default: when ``argv`` is serve.py's), once serve.py
    says its background warm-up (models, first traces, generation worker) is done: what a class meets when the
    teacher started the server beforehand (an entry point that runs serve.main(), e.g. bench.load --serve, passes
    warm=True). Raises RuntimeError (with the log's tail) if it exits or times out.
    ``log``: where its output goes (a temporary file by default, kept: the caller may want to read it).
    ``kind``: a DevServer subclass to return (e.g. one that also reads its own log)."""
    port = port or free_port(host)
    if log is None:
        fd, name = tempfile.mkstemp(prefix=f"tx-server-{port}-", suffix=".log")
        os.close(fd)
        log = name
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, *(argv or ["serve.py"]), "--server.port", str(port), "--server.address", host,
           "--server.headless", "true"]
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=server_env(env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = kind(proc, port, log, host)
    warm = argv is None if warm is None else warm
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(cmd[1:])} exited with code {proc.returncode}:\n{server.log_tail()}")
        if not server.started_s and health(server.url) == "ok":
            server.started_s = time.perf_counter() - t0
        if server.started_s and not warm:
            return server
        if server.started_s and WARMED in server.log_tail(400):
            server.warmed_s = time.perf_counter() - t0
            return server
        if server.started_s and WARM_FAILED in server.log_tail(400):
            server.stop()
            raise RuntimeError(f"serve.py's warm-up failed:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the server was not healthy after {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------ nginx
NGINX_SITE = REPO / "deploy" / "nginx.conf"
NGINX_MAIN = """# written by devserver.start_nginx: a private nginx (own prefix, pid and temp files), in the foreground
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/site.conf;
}}
"""


def nginx_path() -> str | None:
    """Debian's nginx (`make proxy` installs it), or None."""
    import shutil

    for exe in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if exe and os.path.exists(exe):
            return exe
    return None


def nginx_site(listen: str, servers: list[str], site: Path = NGINX_SITE) -> str:
    """deploy/nginx.conf with its placeholders filled: ``listen`` (e.g. "127.0.0.1:8080") and one
    ``server HOST:PORT;`` line per replica."""
    text = site.read_text()
    return text.replace("@LISTEN@", listen).replace("@SERVERS@", " ".join(f"server {s};" for s in servers))


@dataclass
class Nginx:
    proc: subprocess.Popen
    port: int
    prefix: Path
    host: str = "127.0.0.1"
    owned: bool = False  # the prefix is a temporary directory made for it: removed at stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def access_log(self) -> str:
        try:
            return (self.prefix / "access.log").read_text(errors="replace")
        except OSError:
            return ""

    def error_log(self) -> str:
        try:
            return (self.prefix / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> "Nginx":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, grace_s: float = 10) -> None:
        """SIGQUIT (graceful) to the master's process group, SIGKILL after ``grace_s``; then its temporary
        prefix (logs included) goes, if start_nginx made it."""
        stop_process(self.proc, signal.SIGQUIT, grace_s)
        if self.owned:
            import shutil

            shutil.rmtree(self.prefix, ignore_errors=True)


def start_nginx(servers: list[str], prefix: Path | str | None = None, port: int | None = None,
                host: str = "127.0.0.1", timeout: float = 20) -> Nginx:
    """nginx in the foreground (its own process group) with deploy/nginx.conf in front of ``servers``
    ("127.0.0.1:PORT" each), listening on ``host:port`` (a free port by default); returns once it accepts
    connections. Its pid, logs and temp files go under ``prefix`` (a new temporary directory by default)."""
    exe = nginx_path()
    if exe is None:
        raise RuntimeError("nginx is not installed (`make proxy` installs Debian's package)")
    owned = prefix is None
    prefix = Path(prefix or tempfile.mkdtemp(prefix="tx-nginx-"))
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # the workers run as nobody: they must reach the temp directories
        for d in [prefix, *prefix.glob("tmp*"), *prefix.glob("tmp/*")]:
            os.chmod(d, 0o777)
    port = port or free_port(host)
    (prefix / "site.conf").write_text(nginx_site(f"{host}:{port}", servers))
    (prefix / "nginx.conf").write_text(NGINX_MAIN.format(prefix=prefix))
    test = subprocess.run([exe, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], capture_output=True,
                          text=True)
    if test.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{test.stderr}")
    proc = subprocess.Popen([exe, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=open(prefix / "stderr.log", "w"),
                            start_new_session=True)
    ng = Nginx(proc, port, prefix, host, owned)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with code {proc.returncode}:\n{ng.error_log()[-2000:]}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return ng
        except OSError:
            if time.monotonic() > deadline:
                ng.stop()
                raise RuntimeError(f"nginx did not listen within {timeout:.0f} s:\n{ng.error_log()[-2000:]}")
            time.sleep(0.1)


# ------------------------------------------------------------------------------------------ redis
REDIS_START_TIMEOUT_S = 30  # a functional wait for the server to answer PING, not a performance check


def redis_server_path() -> str | None:
    """Debian's redis-server (`make proxy` installs it), or None."""
    import shutil

    return shutil.which("redis-server") or next((p for p in ("/usr/bin/redis-server",) if os.path.exists(p)), None)


@dataclass
class Redis:
    proc: subprocess.Popen
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def __enter__(self) -> "Redis":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, grace_s: float = 10) -> None:
        """SIGTERM to this redis-server's PID (never by name), SIGKILL after ``grace_s``."""
        stop_process(self.proc, signal.SIGTERM, grace_s, group=False)


def start_redis(exe: str | None = None, port: int | None = None, host: str = "127.0.0.1",
                timeout: float = REDIS_START_TIMEOUT_S) -> Redis:
    """A fresh redis-server on ``host:port`` (a free loopback port by default) without persistence (no RDB, no
    AOF: a test's or a benchmark's rooms must not outlive it), in its own session; returns once it answers PING
    (a raw RESP PING on a socket: no client library needed here). RuntimeError if it is missing or does not start."""
    exe = exe or redis_server_path()
    if exe is None:
        raise RuntimeError("redis-server is not installed (`make proxy` installs Debian's package)")
    port = port or free_port(host)
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    server = Redis(proc, port, host)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return server
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
