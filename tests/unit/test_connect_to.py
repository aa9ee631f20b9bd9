"""connect-to entries (curl's ``HOST:PORT:ADDR:PORT``) and the requests adapter that honours them."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.clients.connect_to import (
    ENV_VAR,
    ConnectTo,
    ConnectToAdapter,
    connect_to_from_env,
    mount_connect_to,
    parse_connect_to,
    parse_connect_to_list,
)

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
hostnames = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.integers(min_value=1, max_value=65535)
entries = st.builds(ConnectTo, host=hosts, port=ports, addr=hosts, addr_port=ports)


@given(entries)
def test_round_trip(entry: ConnectTo) -> None:
    text = str(entry)
    assert parse_connect_to(text) == entry
    assert str(parse_connect_to(text)) == text


@given(st.lists(entries, max_size=5, unique_by=lambda e: (e.host, e.port)))
def test_list_round_trip(items: list[ConnectTo]) -> None:
    assert parse_connect_to_list(",".join(map(str, items))) == tuple(items)
    assert parse_connect_to_list([f"  {item} " for item in items]) == tuple(items)


@given(st.text(max_size=40))
def test_garbage_raises_value_error_only(text: str) -> None:
    try:
        entry = parse_connect_to(text)
    except ValueError as error:
        complaint = str(error)
    else:
        assert parse_connect_to(str(entry)) == entry
        return
    assert complaint.startswith(f"connect-to entry {text!r}")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "expected HOST:PORT:ADDR:ADDR_PORT"),
        ("registry.test:443:127.0.0.1", "expected HOST:PORT:ADDR:ADDR_PORT"),
        ("a:443:b:1:extra", "expected HOST:PORT:ADDR:ADDR_PORT"),
        (":443:127.0.0.1:5000", "host '' is not a host name"),
        ("registry.test:443::5000", "address '' is not a host name"),
        ("registry.test::127.0.0.1:5000", "port '' is not a port number"),
        ("registry.test:0:127.0.0.1:5000", "port '0' is not a port number"),
        ("registry.test:65536:127.0.0.1:5000", "port '65536' is not a port number"),
        ("registry.test:443:127.0.0.1:https", "address port 'https' is not a port number"),
        ("registry.test:+443:127.0.0.1:5000", "port '+443' is not a port number"),
        ("registry.test:٤٤٣:127.0.0.1:5000", "not a port number"),
        ("bad host:443:127.0.0.1:5000", "host 'bad host' is not a host name"),
        ("-registry.test:443:127.0.0.1:5000", "is not a host name"),
        ("registry..test:443:127.0.0.1:5000", "is not a host name"),
        ("[::g]:443:127.0.0.1:5000", "is not an IPv6 address"),
        ("[::1:443:127.0.0.1:5000", "expected HOST:PORT:ADDR:ADDR_PORT"),
        ("user@registry.test:443:127.0.0.1:5000", "is not a host name"),
    ],
)
def test_rejections_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="connect-to entry") as caught:
        parse_connect_to(text)
    assert complaint in str(caught.value)


def test_normalisation() -> None:
    entry = parse_connect_to("Default-Route.Apps.Example.TEST.:443:[0:0::1]:5000")
    assert entry == ConnectTo("default-route.apps.example.test", 443, "::1", 5000)
    assert str(entry) == "default-route.apps.example.test:443:[::1]:5000"
    assert ipaddress.ip_address(entry.addr).version == 6


def test_list_rules() -> None:
    assert parse_connect_to_list("") == ()
    assert parse_connect_to_list(" , ") == ()
    same = "a.test:443:127.0.0.1:1"
    assert parse_connect_to_list(f"{same},{same}") == (parse_connect_to(same),)
    with pytest.raises(ValueError, match="mapped twice"):
        parse_connect_to_list("a.test:443:127.0.0.1:1,A.test:443:127.0.0.1:2")
    # Different ports of one host are different keys.
    assert len(parse_connect_to_list("a.test:443:127.0.0.1:1,a.test:80:127.0.0.1:2")) == 2


def test_from_environment() -> None:
    assert connect_to_from_env({}) == ()
    env = {ENV_VAR: "r.apps.test:443:127.0.0.1:5000, k.test:6443:127.0.0.1:6000"}
    assert [str(e) for e in connect_to_from_env(env)] == [
        "r.apps.test:443:127.0.0.1:5000",
        "k.test:6443:127.0.0.1:6000",
    ]
    with pytest.raises(ValueError, match="connect-to entry"):
        connect_to_from_env({ENV_VAR: "nonsense"})


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://r.apps.test/v2/", ("127.0.0.1", 5000)),
        ("https://R.Apps.Test:443/v2/", ("127.0.0.1", 5000)),
        ("https://r.apps.test:8443/v2/", None),  # another port of the same host
        ("http://r.apps.test/v2/", None),  # http defaults to port 80
        ("http://plain.test/", ("127.0.0.1", 8080)),
        ("https://other.test/", None),
    ],
)
def test_target_for(url: str, target: tuple[str, int] | None) -> None:
    adapter = ConnectToAdapter(parse_connect_to_list("r.apps.test:443:127.0.0.1:5000,plain.test:80:127.0.0.1:8080"))
    assert adapter.target_for(url) == target


def test_pool_key_keeps_the_name_for_tls_and_verification() -> None:
    adapter = ConnectToAdapter([parse_connect_to("r.apps.test:443:127.0.0.1:5000")])
    request = requests.Request("GET", "https://r.apps.test/v2/").prepare()
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(request, True)
    assert (host_params["host"], host_params["port"]) == ("127.0.0.1", 5000)
    assert dict(pool_kwargs)["server_hostname"] == "r.apps.test"
    assert pool_kwargs["cert_reqs"] == "CERT_REQUIRED"
    unmapped = requests.Request("GET", "https://other.test/").prepare()
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(unmapped, "/ca.pem")
    assert host_params["host"] == "other.test"
    assert "server_hostname" not in pool_kwargs


class _EchoHost(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (self.headers.get("Host") or "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _EchoHost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_mapped_request_dials_the_address_with_the_original_host_header(echo_port: int) -> None:
    entry = parse_connect_to(f"svc.cluster.test:80:127.0.0.1:{echo_port}")
    session = mount_connect_to(requests.Session(), [entry])
    # A dead proxy in the environment or session must not catch mapped requests.
    session.proxies = {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}
    assert session.get("http://svc.cluster.test/", timeout=5).text == "svc.cluster.test"
    assert session.get("http://SVC.cluster.test:80/", timeout=5).text == "svc.cluster.test:80"
    session.proxies = {}
    assert session.get(f"http://127.0.0.1:{echo_port}/", timeout=5).text == f"127.0.0.1:{echo_port}"
    session.close()


def test_unmapped_hosts_are_not_redirected(echo_port: int) -> None:
    entry = parse_connect_to(f"svc.cluster.test:80:127.0.0.1:{echo_port}")
    with (
        mount_connect_to(requests.Session(), [entry]) as session,
        pytest.raises(requests.exceptions.ConnectionError),
    ):
        session.get("http://unmapped.invalid/", timeout=5)
