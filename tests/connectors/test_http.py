"""analytics.connectors.http against a scripted server on 127.0.0.1: retries, waits, and errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from analytics.connectors.base import SourceError
from analytics.connectors.http import HttpClient, retry_after

SECRET = "s3cret-token-XYZ"


class Scripted:
    """Answers requests from a script of (status, headers, body, how); the last one repeats."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes, str]] = []
        self.seen: list[dict[str, Any]] = []

    def next(self) -> tuple[int, dict[str, str], bytes, str]:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *_args) -> None:
        pass

    def _answer(self) -> None:
        api: Scripted = self.server.api
        length = int(self.headers.get("Content-Length") or 0)
        api.seen.append({"path": self.path, "method": self.command, "auth": self.headers.get("Authorization"),
                         "body": self.rfile.read(length) if length else b""})
        status, headers, body, how = api.next()
        if how == "slow":
            time.sleep(0.5)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if how == "die" else body)
        self.wfile.flush()

    do_GET = do_POST = _answer  # noqa: N815 (http.server's names)


def ok(value: Any) -> tuple[int, dict[str, str], bytes, str]:
    return 200, {"Content-Type": "application/json"}, json.dumps(value).encode(), ""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Scripted]]:
    api = Scripted()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.api = api  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", api
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def api(server) -> Scripted:
    server[1].script.clear()
    server[1].seen.clear()
    return server[1]


def client(server, sleeps: list[float] | None = None, **options) -> HttpClient:
    recorder = sleeps if sleeps is not None else []
    return HttpClient(server[0] + "/api", auth_headers={"Authorization": f"Bearer {SECRET}"},
                      sleep=recorder.append, name="Vendor", **options)


def test_get_json_sends_the_auth_header_and_the_params(server, api):
    api.script = [ok({"a": 1})]
    c = client(server)
    assert c.get_json("items", {"page": 2}) == {"a": 1}
    assert api.seen[0]["path"] == "/api/items?page=2" and api.seen[0]["auth"] == f"Bearer {SECRET}"
    assert c.last_headers["Content-Type"] == "application/json"


def test_post_json_sends_a_json_body(server, api):
    api.script = [ok([1, 2])]
    assert client(server).post_json("/search", {"q": "x"}) == [1, 2]
    assert api.seen[0]["method"] == "POST" and json.loads(api.seen[0]["body"]) == {"q": "x"}


def test_an_absolute_url_is_used_as_it_is(server, api):
    api.script = [ok({})]
    client(server).get_json(server[0] + "/other/next?cursor=abc")
    assert api.seen[0]["path"] == "/other/next?cursor=abc"


@pytest.mark.parametrize("link", ["http://elsewhere.invalid/api/next", "https://127.0.0.1/api/next"])
def test_a_link_to_another_site_is_not_followed(server, api, link):
    """A next-page link on another host or scheme would carry the credentials there."""
    with pytest.raises(SourceError, match="points away from") as caught:
        client(server).get_json(link)
    assert api.seen == [] and SECRET not in str(caught.value)


def test_429_waits_as_retry_after_says_in_seconds(server, api):
    api.script = [(429, {"Retry-After": "7"}, b"{}", ""), ok({"done": True})]
    sleeps: list[float] = []
    assert client(server, sleeps).get_json("x") == {"done": True}
    assert sleeps == [7.0] and len(api.seen) == 2


def test_429_waits_until_an_http_date(server, api):
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    api.script = [(429, {"Retry-After": later}, b"{}", ""), ok(1)]
    sleeps: list[float] = []
    assert client(server, sleeps).get_json("x") == 1
    assert 25 <= sleeps[0] <= 31


def test_429_without_retry_after_backs_off(server, api):
    api.script = [(429, {}, b"", ""), ok(1)]
    sleeps: list[float] = []
    assert client(server, sleeps, backoff=0.25).get_json("x") == 1
    assert sleeps == [0.25]


def test_retry_after_reading():
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after("120") == 120.0
    assert retry_after("Mon, 01 Jan 2024 12:01:00 GMT", lambda: now) == 60.0
    assert retry_after("Mon, 01 Jan 2024 11:00:00 GMT", lambda: now) == 0.0  # in the past: at once
    assert retry_after("soon") is None and retry_after(None) is None and retry_after("") is None


def test_5xx_is_retried_with_exponential_backoff(server, api):
    api.script = [(500, {}, b"oops", ""), (503, {}, b"", ""), (502, {}, b"", ""), ok("fine")]
    sleeps: list[float] = []
    assert client(server, sleeps, backoff=0.5).get_json("x") == "fine"
    assert sleeps == [0.5, 1.0, 2.0]


def test_retries_are_bounded(server, api):
    api.script = [(500, {}, b"", "")]
    sleeps: list[float] = []
    with pytest.raises(SourceError, match=r"Vendor: GET /api/x: HTTP 500 .*gave up after 4 attempts"):
        client(server, sleeps, max_retries=3).get_json("x")
    assert len(api.seen) == 4 and sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("status, hint", [(401, "credentials"), (403, "may not read"), (404, "URL or id")])
def test_client_errors_fail_at_once_naming_path_and_status_never_the_secret(server, api, status, hint):
    api.script = [(status, {}, json.dumps({"error": SECRET}).encode(), "")]
    sleeps: list[float] = []
    with pytest.raises(SourceError) as caught:
        client(server, sleeps).get_json("incidents", {"api_key": SECRET})
    text = str(caught.value)
    assert f"GET /api/incidents: HTTP {status}" in text and hint in text
    assert SECRET not in text and "api_key" not in text
    assert len(api.seen) == 1 and sleeps == []


@pytest.mark.parametrize("body", [b'{"incidents": [{"id": 1}, {"id"', b"<html>busy</html>", b"", b"\xff\xfe{"])
def test_malformed_or_truncated_json_fails_at_once(server, api, body):
    api.script = [(200, {}, body, "")]
    with pytest.raises(SourceError, match=r"GET /api/x: HTTP 200 but the body is not complete JSON"):
        client(server).get_json("x")
    assert len(api.seen) == 1


def test_a_connection_dying_mid_body_is_retried(server, api):
    api.script = [(200, {}, json.dumps(list(range(500))).encode(), "die"), ok([1])]
    sleeps: list[float] = []
    assert client(server, sleeps).get_json("x") == [1]
    assert len(api.seen) == 2 and sleeps == [0.5]


def test_a_timeout_is_retried_then_reported(server, api):
    api.script = [(200, {}, b"[]", "slow")]
    with pytest.raises(SourceError, match=r"GET /api/x: timed out, gave up after 2 attempts"):
        client(server, timeout=0.1, max_retries=1).get_json("x")


def test_a_refused_connection_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sleeps: list[float] = []
    c = HttpClient(f"http://127.0.0.1:{port}/", auth_headers={"X-Key": SECRET}, sleep=sleeps.append, max_retries=2)
    with pytest.raises(SourceError, match=r"GET /x: connection failed, gave up after 3 attempts") as caught:
        c.get_json("x")
    assert SECRET not in str(caught.value) and sleeps == [0.5, 1.0]


def test_min_interval_paces_requests(server, api):
    api.script = [ok(1)]
    now = [100.0]
    sleeps: list[float] = []
    c = client(server, sleeps, min_interval=1.0, clock=lambda: now[0])
    c.get_json("x")
    now[0] += 0.25
    c.get_json("x")
    assert sleeps == [0.75]
