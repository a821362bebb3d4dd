"""The main port's HTTP/1.1 request reader, sans I/O: bytes in, requests (or a refusal) out.

RFC 9112 (message syntax) and what the shell relies on: complete requests only,
in order, a body bounded before it is read, a head bounded however it is sent.
"""

from __future__ import annotations

import pytest

from tidings.protocol.http1 import MAX_HEAD, RequestReader
from tidings.protocol.http_request import query_pairs

GET = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def post(body: bytes, path: bytes = b"/apps/1/events?auth_key=k") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        path,
        len(body),
        body,
    )


def reader(max_body: int = 1024) -> RequestReader:
    return RequestReader(max_body=max_body)


def test_a_request_in_one_read() -> None:
    (request,) = reader().feed(post(b'{"a":1}'))
    assert (request.method, request.path, request.version) == (
        "POST",
        "/apps/1/events",
        "1.1",
    )
    assert request.query == [("auth_key", "k")] and request.body == b'{"a":1}'
    assert request.keep_alive and not request.upgrade


def test_pipelined_requests_come_out_in_order() -> None:
    requests = reader().feed(post(b"1") + GET + post(b"22"))
    assert [(r.method, r.body) for r in requests] == [
        ("POST", b"1"),
        ("GET", b""),
        ("POST", b"22"),
    ]


def test_a_request_fed_byte_by_byte() -> None:
    r = reader()
    data = post(b'{"x":"y"}')
    out = []
    for i in range(len(data)):
        out += r.feed(data[i : i + 1])
        if i < len(data) - 1:
            assert r.mid_request and not out
    assert [req.body for req in out] == [b'{"x":"y"}'] and not r.mid_request


def test_the_body_pending_is_known_until_it_is_complete() -> None:
    r = reader()
    assert r.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab") == []
    assert r.in_body and r.pending is not None and r.pending.path == "/a"
    assert [req.body for req in r.feed(b"cd")] == [b"abcd"]
    assert not r.in_body and r.pending is None


def test_a_chunked_body_is_joined() -> None:
    data = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    (request,) = reader().feed(data)
    assert request.body == b"{}"


def test_headers_are_lowercase_stripped_and_joined() -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1 \r\nx-a: 2\r\nOrigin:\thttp://o \r\n\r\n"
    (request,) = reader().feed(data)
    assert request.headers == {"host": "x", "x-a": "1, 2", "origin": "http://o"}


def test_an_absolute_uri_loses_its_origin_and_paths_are_decoded() -> None:
    (request,) = reader().feed(b"GET http://h:1/a%20b?q=%41+b HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (request.path, request.raw_path) == ("/a b", "/a%20b")
    assert request.query == [("q", "A b")]


def test_query_pairs_keep_blanks_and_repeats() -> None:
    assert query_pairs("a=1&a=2&b=&c") == [("a", "1"), ("a", "2"), ("b", ""), ("c", "")]


def test_an_upgrade_is_the_last_request_and_keeps_what_follows() -> None:
    r = reader()
    data = (
        GET + b"GET /app/k HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n\r\n\x81\x85frame" + GET
    )
    first, upgrade = r.feed(data)
    assert not first.upgrade and upgrade.upgrade and r.upgraded
    assert r.tail == b"\x81\x85frame" + GET
    assert r.feed(GET) == []  # nothing is read after an upgrade


def test_expect_100_continue_is_reported_until_the_body_is_in() -> None:
    r = reader()
    r.feed(b"POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert r.expect_continue
    r.feed(b"{}")
    assert not r.expect_continue


def test_http_1_0_is_read_and_not_kept_alive() -> None:
    (request,) = reader().feed(b"GET /health HTTP/1.0\r\n\r\n")
    assert request.version == "1.0" and not request.keep_alive


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "not an HTTP request"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "malformed HTTP request"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "Host header is missing"),
        (
            post(b"{}").replace(b"Content-Length: 2", b"Content-Length: 2\r\nContent-Length: 3"),
            400,
            "Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n",
            413,
            "too large",
        ),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, "too long"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 9000 + b"\r\n\r\n",
            400,
            "too long",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
            400,
            "malformed request body",
        ),
    ],
    ids=[
        "method",
        "version",
        "host",
        "duplicate length",
        "length",
        "url",
        "header",
        "chunked",
    ],
)
def test_refusals(data: bytes, status: int, words: str) -> None:
    r = reader()
    assert r.feed(data) == []
    assert r.failed is not None and r.failed.http_status == status and r.failed.close
    assert words in r.failed.message and r.failed.hint
    assert r.feed(GET) == []  # nothing is read after a refusal


def test_a_chunked_body_over_the_limit_is_refused_as_it_grows() -> None:
    r = reader(max_body=8)
    r.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    r.feed(b"5\r\nabcde\r\n")
    assert r.failed is None
    r.feed(b"5\r\nfghij\r\n")
    assert r.failed is not None and r.failed.http_status == 413


def test_many_small_headers_over_the_head_limit_are_refused() -> None:
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(MAX_HEAD // 100))
    r = reader()
    r.feed(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert r.failed is not None and "head over" in r.failed.message


def test_a_header_line_that_never_ends_is_bounded_by_the_raw_bytes() -> None:
    r = reader()
    r.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    for _ in range(MAX_HEAD // 1000 + 2):
        r.feed(b"z" * 1000)  # llhttp keeps these without a callback
    assert r.failed is not None and r.failed.http_status == 400


def test_a_big_pipelined_read_is_not_mistaken_for_a_big_head() -> None:
    """A read that ends one head, holds many requests and starts another is not one head."""
    r = reader()
    one = post(b"x" * 500)
    assert r.feed(one[:20]) == []
    assert len(r.feed(one[20:] + one * 40 + one[:20])) == 41
    assert len(r.feed(one[20:])) == 1
    assert r.failed is None
