"""Two replicas behind a real load balancer: Debian's nginx with deploy/nginx.conf (the file docs/deploy.md
shows) in front of two serve.py processes on loopback, 2 x 4 protocol students through it (bench/loadproto.py's
``replicas`` profile). Asserted: no student's requests ever reached two replicas (nginx adds ``X-Upstream`` to
every response, the websocket's handshake included), a dropped websocket resumes the same session on the same
replica, fresh browsers reach both replicas, 0 errors, 0 cross-talk, nothing in nginx's error log."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.load.loadrun import REPO, run_loadproto, summary

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
STUDENTS = 8


def nginx() -> str | None:
    import shutil

    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def test_docs_show_the_deployed_config():
    """docs/deploy.md shows deploy/nginx.conf as it is (the test below runs that file)."""
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    docs = (REPO / "docs" / "deploy.md").read_text()
    assert conf.strip() in docs, "docs/deploy.md must include deploy/nginx.conf verbatim"
    assert re.search(r"hash \$tx_route consistent;", conf) and "@SERVERS@" in conf and "@LISTEN@" in conf


def test_two_replicas_behind_nginx(tmp_path, capsys):
    if nginx() is None:  # `make test` installs it (`make proxy`): missing, the test fails rather than passing silently
        if os.environ.get("TX_SKIP_PROXY_TESTS") != "1":
            pytest.fail("nginx is not installed (`make proxy` installs Debian's package; set TX_SKIP_PROXY_TESTS=1 "
                        "to skip on purpose)", pytrace=False)
        pytest.skip("nginx is not installed and TX_SKIP_PROXY_TESTS=1")
    [r] = run_loadproto(tmp_path, "--profile", "replicas", "--replicas", "2", "--no-baseline",
                        "--replica-students", str(STUDENTS), "--interactions", "6", "--witnesses", "0")
    with capsys.disabled():
        print("\n[replicas] " + summary(r, ("students_per_replica", "new_browsers_reach", "interactions_per_s",
                                            "interaction_p50_s", "interaction_p95_s", "first_page_max_s",
                                            "reconnects_resumed", "peak_rss_mb")))
    assert r["errors"] == [], r["errors"][:10]
    assert r["crosstalk"] == [] and r["own_text_missing"] == []
    assert r["interactions_done"] + (r["generation_p50_s"] is not None) > 0
    # sticky: every student's page, scripts, websocket and reconnect went to one replica, named by nginx
    assert r["students_without_upstream_header"] == 0
    assert r["students_on_two_replicas"] == []
    assert r["reconnects_resumed"] == STUDENTS and r["reconnects_not_resumed"] == []
    # and the balancing works: browsers without the cookie reach both replicas; the students were spread
    assert len(r["new_browsers_reach"]) == 2, r["new_browsers_reach"]
    assert sum(r["students_per_replica"].values()) == STUDENTS
    assert r["nginx_errors"] == []
    assert r["max_loads_per_model"] == 1
