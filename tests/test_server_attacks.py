"""``llm-rerank serve`` against what an attacker (or an unlucky client) does: leaving before
the answer, holding silent connections, provider bodies holding internals, odd paths, odd
bodies and odd tokens; and LiteLLM loaded before the server answers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import re
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the server needs the 'server' extra")
pytest.importorskip("uvicorn", reason="the server needs the 'server' extra")
httpx = pytest.importorskip("httpx", reason="the server tests need httpx ('test-server' extra)")

import uvicorn  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from test_server import (  # noqa: E402
    DOCS,
    GOOD,
    JSON,
    by_number,
    failing,
    judge_args,
    judged_dataset,
    label_by_number,
    serve_process,
    served,
)

from llm_rerank import ListwiseReranker, PointwiseReranker  # noqa: E402
from llm_rerank.cli import main  # noqa: E402
from llm_rerank.server.app import create_app  # noqa: E402
from llm_rerank.server.config import ServerSettings  # noqa: E402
from llm_rerank.testing import JudgeServer, fake_llm  # noqa: E402
from llm_rerank.transports.litellm import import_litellm  # noqa: E402

# ---- odd paths, bodies and tokens (issue 19, item 16) --------------------------------------

def test_a_trailing_slash_is_answered_without_a_redirect() -> None:
    with fake_llm(by_number) as llm:
        client = TestClient(create_app({"fast": ListwiseReranker(llm.model, cache=False)}),
                            follow_redirects=False)
        answer = client.post("/v2/rerank/", json=GOOD, headers={"Host": "evil.example"})
    assert answer.status_code == 404 and "location" not in answer.headers
    assert answer.json()["message"] == ("no route POST /v2/rerank/ (without the trailing "
                                        "slash: /v2/rerank)")
    assert "evil.example" not in answer.text


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"null", 422, "the body must be a JSON object, got null"),
    (b"[1, 2]", 422, "the body must be a JSON object, got array"),
    (b'"text"', 422, "the body must be a JSON object, got string"),
    (b'{"query": "q", "documents": ["a"], "top_n": 1' + b"0" * 5000 + b"}", 400,
     "the body holds an integer of 5001 digits, over this server's limit of 4300"),
])
def test_odd_bodies_get_plain_messages(body: bytes, status: int, message: str) -> None:
    with fake_llm(by_number) as llm:
        client = TestClient(create_app({"fast": ListwiseReranker(llm.model, cache=False)}))
        answer = client.post("/v2/rerank", content=body, headers=JSON)
        assert llm.calls == 0
    assert answer.status_code == status
    assert answer.json()["message"] == message
    assert "NoneType" not in answer.text and "set_int_max_str_digits" not in answer.text


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_non_ascii_auth_token_is_refused_at_start(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str],
                                                    how: str) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)  # never serve, whatever happens
    args = ["serve", "-m", "openai/x", "--no-cache"]
    if how == "flag":
        args += ["--auth-token", "s3cret-tökén"]
    else:
        monkeypatch.setenv("LLM_RERANK_AUTH_TOKEN", "s3cret-tökén")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("llm-rerank: error: --auth-token: the auth token must be visible "
                          "ASCII characters"), err
    assert len(err.splitlines()) == 1


def test_serve_without_its_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn fails as if missing
    assert main(["serve", "-m", "openai/x"]) == 2
    err = capsys.readouterr().err
    assert err == ("llm-rerank: error: uvicorn is not installed; install it from the "
                   "llm_rerank clone: pip install -e '.[server]'\n")


# ---- provider bodies stay with the server (item 13c) ---------------------------------------

LEAKY = ("Traceback (most recent call last):\n  File \"/srv/internal/app.py\", line 7\n"
         "KeyError: 'sk-internal-key'" + "x" * 500)


@pytest.mark.parametrize(("kind", "status"), [("transient", 503), ("permanent", 502)])
def test_provider_bodies_are_not_echoed_to_clients(kind: str, status: int,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    litellm = import_litellm()
    error = (litellm.ServiceUnavailableError(LEAKY, llm_provider="fake", model="m")
             if kind == "transient" else
             litellm.BadRequestError(LEAKY, llm_provider="fake", model="m"))
    with fake_llm(failing(error)) as llm:
        client = TestClient(create_app(
            {"fast": ListwiseReranker(llm.model, cache=False, max_retries=1)}))
        cohere = client.post("/v2/rerank", json=GOOD)
        tei = client.post("/rerank", json={"query": "q", "texts": DOCS})
    for answer in (cohere, tei):
        assert answer.status_code == status
        for leak in ("Traceback", "/srv/internal", "sk-internal-key", "xxxxx"):
            assert leak not in answer.text, answer.text
    message = cohere.json()["message"]
    assert re.fullmatch(r"the LLM provider (is unavailable, retries exhausted|refused the call) "
                        r"\(\w+(, HTTP \d+)?, \d attempts?\)", message), message
    logged = [r.getMessage() for r in caplog.records if r.name == "llm_rerank.server"]
    assert any("Traceback (most recent call last)" in line for line in logged)  # the operator's


# ---- a client that leaves (item 11) -----------------------------------------------------

async def test_a_client_that_leaves_cancels_its_ranking() -> None:
    documents = [f"n{n % 3} passage {n}" for n in range(40)]
    with fake_llm(label_by_number, latency=0.05) as llm:
        app = create_app({"point": PointwiseReranker(llm.model, cache=False, max_concurrency=2)})
        body = json.dumps({"query": "q", "documents": documents}).encode()
        incoming = [{"type": "http.request", "body": body, "more_body": False}]
        gone = asyncio.Event()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v2/rerank", "raw_path": b"/v2/rerank",
                 "query_string": b"", "headers": [(b"content-type", b"application/json")],
                 "http_version": "1.1", "scheme": "http", "client": ("127.0.0.1", 5000),
                 "server": ("127.0.0.1", 8080), "root_path": ""}
        answered = asyncio.ensure_future(app(scope, receive, send))
        while llm.calls < 4:  # the ranking is under way, two calls at a time
            await asyncio.sleep(0.01)
        gone.set()
        await asyncio.wait_for(answered, 10)
        assert llm.in_flight == 0  # cancelled and awaited: the slots are free
        calls = llm.calls
        await asyncio.sleep(0.2)
        assert llm.calls == calls < len(documents)  # no call after the client left
        metrics = TestClient(app).get("/metrics").text
    assert sent == []  # nobody to answer
    assert 'llm_rerank_http_requests_total{route="/v2/rerank",status="499"} 1.0' in metrics
    assert 'status="200"' not in metrics


# ---- LiteLLM loaded before serving (items 7, 14); silent connections (item 12) ------------

WATCHED_CLI = """
import importlib.abc, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))  # ulimit -n 256
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "litellm":
            print("litellm import started", file=sys.stderr, flush=True)
            sys.meta_path.remove(self)
        return None
sys.meta_path.insert(0, Watch())
from llm_rerank.cli import main
sys.exit(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="setrlimit and many sockets")
def test_serve_loads_litellm_first_and_survives_300_silent_sockets(
        judge_server: Callable[..., JudgeServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One serve process (starting one costs a LiteLLM import) under ``ulimit -n 256``."""
    request, qrels = judged_dataset()
    judge = judge_server([request], qrels)
    log = tmp_path / "stderr"
    monkeypatch.setattr("test_server.CLI", WATCHED_CLI)
    with serve_process([*judge_args(judge), "--no-access-log"], log) as (base, _), \
            contextlib.ExitStack() as held:
        lines = log.read_text().splitlines()  # /health has just answered 200 for the first time
        assert "litellm import started" in lines, lines
        banner = next(n for n, line in enumerate(lines) if line.startswith("llm-rerank serve:"))
        assert lines.index("litellm import started") < banner
        port = int(base.rsplit(":", 1)[1])
        for _ in range(300):
            silent = held.enter_context(socket.socket())
            silent.settimeout(5)
            silent.connect(("127.0.0.1", port))
        for _ in range(3):
            assert httpx.get(f"{base}/health", timeout=1).status_code == 200
    err = log.read_text()
    assert "Traceback" not in err and err.count("Too many open files") <= 1, err[-2000:]


@pytest.fixture
def guarded() -> Iterator[str]:
    """uvicorn with the serve command's protocol and a 0.5 s read timeout, over a fake LLM
    that answers after 0.8 s (longer than the read timeout)."""
    with fake_llm(by_number, latency=0.8) as llm:
        app = create_app({"fast": ListwiseReranker(llm.model, cache=False)},
                         settings=ServerSettings(read_timeout_s=0.5))
        with served(app, http="llm_rerank.server.connections:GuardedH11Protocol") as url:
            yield url


@pytest.mark.parametrize("sent", [
    b"",
    b"POST /v2/rerank HTTP/1.1\r\nHost: x\r\nContent-Ty",
    b"POST /v2/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{\"query\": ",
])
def test_a_request_that_does_not_arrive_whole_is_dropped(guarded: str, sent: bytes) -> None:
    port = int(guarded.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(sent)
        assert connection.recv(65536) == b""  # the server closed it (recv would time out)
    # a request that arrived whole is not timed out, though its answer takes longer
    answer = httpx.post(f"{guarded}/v2/rerank", json=GOOD, timeout=10)
    assert answer.status_code == 200 and len(answer.json()["results"]) == len(DOCS)


def test_running_out_of_descriptors_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from llm_rerank.server.lifecycle import quiet_resource_errors

    loop = asyncio.new_event_loop()
    try:
        quiet_resource_errors(loop)
        for _ in range(50):
            loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                         "exception": OSError(errno.EMFILE,
                                                              "Too many open files")})
    finally:
        loop.close()
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert "Too many open files" in logged[0].getMessage()
