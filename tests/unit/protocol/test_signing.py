"""HMAC helpers, checked against Pusher's published vectors and the PyPI ``pusher`` SDK."""

from __future__ import annotations

import json

import pusher

from tidings.protocol import signing

# The example credentials of Pusher's "auth signatures" and HTTP API reference docs.
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"


def test_private_channel_vector() -> None:
    assert signing.channel_auth(KEY, SECRET, "1234.1234", "private-foobar") == (
        "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )


def test_presence_channel_vector() -> None:
    channel_data = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
    assert signing.channel_auth(KEY, SECRET, "1234.1234", "presence-foobar", channel_data) == (
        "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
    )


def test_http_api_vector() -> None:
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    assert signing.body_md5(body) == "ec365a775a4cd0599faeb73354201b6f"
    params = {
        "auth_key": KEY,
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": signing.body_md5(body),
    }
    assert signing.request_string_to_sign("post", "/apps/3/events", params) == (
        "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
        "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
    )
    assert signing.sign_request(SECRET, "POST", "/apps/3/events", params) == (
        "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
    )


def test_string_to_sign_sorts_lowercases_and_skips_signature() -> None:
    params = {"b": "2", "A": "1", "auth_signature": "ignored", "c": "x y"}
    assert signing.request_string_to_sign("get", "/p", params) == "GET\n/p\na=1&b=2&c=x y"


def test_matches_the_pusher_sdk() -> None:
    """What the official Python SDK hands to clients verifies here."""
    client = pusher.Pusher(app_id="3", key=KEY, secret=SECRET)
    private = client.authenticate(channel="private-a", socket_id="1.2")
    assert private["auth"] == signing.channel_auth(KEY, SECRET, "1.2", "private-a")
    presence = client.authenticate(
        channel="presence-a", socket_id="1.2", custom_data={"user_id": "u", "user_info": {}}
    )
    assert presence["auth"] == signing.channel_auth(
        KEY, SECRET, "1.2", "presence-a", presence["channel_data"]
    )
    user = client.authenticate_user("1.2", {"id": "u1"})
    assert json.loads(user["user_data"]) == {"id": "u1"}
    assert user["auth"] == signing.user_auth(KEY, SECRET, "1.2", user["user_data"])


def test_hmac_hex_and_compare() -> None:
    digest = signing.hmac_sha256_hex("s", "m")
    assert len(digest) == 64 and digest == digest.lower()
    assert signing.signatures_match(digest, digest)
    flipped = digest[:-1] + ("1" if digest[-1] == "0" else "0")
    assert not signing.signatures_match(digest, flipped)
    assert not signing.signatures_match(digest, "")
    assert signing.signatures_match("é", "é")  # non-ASCII never raises
