"""Which address Caddy dials for a domain, from Docker's container list entries and, for an app on a
remote server, its containers' inspect (as the engine returns them), and the Caddy routes built
from it."""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appos.v1 import proxy_pb2
from services.common.errors import InvalidArgument
from services.common.labels import PROJECT_LABEL, SERVICE_LABEL
from services.proxyctl import remote, upstream
from services.proxyctl.caddy import NOT_RUNNING, build_config
from services.proxyctl.engine import Engine
from services.proxyctl.settings import ProxySettings


def container(
    app: str,
    service: str,
    networks: dict[str, dict[str, str]],
    ports: list[dict[str, Any]] | None = None,
    ident: str = "",
) -> dict[str, Any]:
    return {
        "Id": ident or f"{app}-{service}",
        "Labels": {PROJECT_LABEL: f"appos-{app}", SERVICE_LABEL: service},
        "State": "running",
        "Ports": ports or [],
        "NetworkSettings": {"Networks": networks},
    }


class FakeDockerAPI(socketserver.ThreadingUnixStreamServer):
    """A Docker Engine API on a Unix socket: `GET /containers/json` (running containers, label filters
    as the engine applies them) from a list and `GET /events` from another, in the engine's formats."""

    daemon_threads = True

    def __init__(
        self, path: Path, containers: list[dict[str, Any]], inspects: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.containers = containers
        self.inspects = inspects or {}  # container id → `GET /containers/{id}/json`
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        super().__init__(str(path), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeDockerAPI

    def address_string(self) -> str:
        return "unix"

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        params = {key: values[0] for key, values in query.items()}
        filters = json.loads(params.get("filters", "{}"))
        self.server.requests.append((url.path, {**params, "filters": filters}))
        ident = url.path.removeprefix("/containers/").removesuffix("/json")
        if url.path.startswith("/containers/") and ident in self.server.inspects:
            self._json(self.server.inspects[ident])
            return
        if url.path == "/events":  # one JSON object a line; HTTP/1.0: the stream ends with the connection
            self.send_response(200)
            self.end_headers()
            for event in self.server.events:
                self.wfile.write(json.dumps(event).encode() + b"\n")
            return
        if url.path != "/containers/json":
            self.send_error(404)
            return
        wanted = [label.partition("=") for label in filters["label"]]
        self._json(
            [
                c
                for c in self.server.containers
                if all(k in c["Labels"] and (not eq or c["Labels"][k] == v) for k, eq, v in wanted)
            ]
        )

    def _json(self, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def docker_api(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Start a FakeDockerAPI with these containers; an Engine that talks to it."""
    servers: list[FakeDockerAPI] = []

    def start(containers: list[dict[str, Any]], inspects: dict[str, dict[str, Any]] | None = None) -> Engine:
        path = tmp_path / f"docker{len(servers)}.sock"
        server = FakeDockerAPI(path, containers, inspects)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return Engine(f"unix://{path}")

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_apps_own_network_comes_first() -> None:
    c = container(
        "blog",
        "web",
        {
            "bridge": {"IPAddress": "172.17.0.5"},
            "appos-shop_default": {"IPAddress": "10.0.9.2"},
            "appos-blog_default": {"IPAddress": "10.0.7.3"},
        },
    )
    assert upstream.container_address(c, app="blog") == "10.0.7.3"


def test_any_network_with_an_address_when_the_app_has_none_of_its_own() -> None:
    c = container("blog", "web", {"proxy-net": {"IPAddress": ""}, "shared": {"IPAddress": "10.0.8.4"}})
    assert upstream.container_address(c, app="blog") == "10.0.8.4"
    v6 = container("blog", "web", {"appos-blog_v6": {"IPAddress": "", "GlobalIPv6Address": "fd00::7"}})
    assert upstream.container_address(v6, app="blog") == "[fd00::7]"


def test_no_address_on_host_or_no_network() -> None:
    assert (
        upstream.container_address(container("blog", "web", {"host": {"IPAddress": ""}}), app="blog") is None
    )
    assert upstream.container_address({"NetworkSettings": {}}, app="blog") is None


def test_a_published_port_is_never_the_upstream(docker_api: Callable[[list[dict[str, Any]]], Engine]) -> None:
    """Published on 127.0.0.2:P: the domain dials the container, not 127.0.0.1:P."""
    published = [{"IP": "127.0.0.2", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}]
    engine = docker_api(
        [container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.3"}}, published)]
    )
    domain = proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80)
    assert upstream.dials(engine, [domain]) == {"blog.example.com": ["10.0.7.3:80"]}


def test_dials_for_every_domain(docker_api: Callable[[list[dict[str, Any]]], Engine]) -> None:
    engine = docker_api(
        [
            container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.4"}}),
            container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.3"}}),  # scaled
            container("blog", "db", {"appos-blog_default": {"IPAddress": "10.0.7.9"}}),
            container("shop", "web", {"appos-shop_default": {"IPAddress": "10.0.9.2"}}),
        ]
    )
    domains = [
        proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80),
        proxy_pb2.Domain(domain="shop.example.com", app="shop", service="web", port=8080),
        proxy_pb2.Domain(domain="gone.example.com", app="gone", service="web", port=80),
        proxy_pb2.Domain(domain="console.example.com", console=True, upstream="127.0.0.1:8080"),
    ]
    assert upstream.dials(engine, domains) == {
        "blog.example.com": ["10.0.7.3:80", "10.0.7.4:80"],
        "shop.example.com": ["10.0.9.2:8080"],
        "gone.example.com": [],
        "console.example.com": ["127.0.0.1:8080"],
    }


def test_a_container_that_just_died_is_not_dialed(
    docker_api: Callable[[list[dict[str, Any]]], Engine],
) -> None:
    """At a `die` event Docker may still list the container as running."""
    engine = docker_api(
        [
            container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.3"}}, ident="c1"),
            container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.4"}}, ident="c2"),
        ]
    )
    domain = proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80)
    assert upstream.dials(engine, [domain], stopped="c1") == {"blog.example.com": ["10.0.7.4:80"]}


def test_docker_not_answering_leaves_app_domains_without_a_dial(tmp_path: Path) -> None:
    domains = [
        proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80),
        proxy_pb2.Domain(domain="console.example.com", console=True, upstream="127.0.0.1:8080"),
    ]
    assert upstream.dials(Engine(f"unix://{tmp_path}/nothing.sock"), domains) == {
        "blog.example.com": [],
        "console.example.com": ["127.0.0.1:8080"],
    }


def test_exposes() -> None:
    c = container("a", "web", {}, [{"PrivatePort": 8080, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"}])
    assert upstream.exposes(c, 8080)
    assert not upstream.exposes(c, 53)
    assert not upstream.exposes(c, 80)


def test_add_refuses_what_it_cannot_dial(docker_api: Callable[[list[dict[str, Any]]], Engine]) -> None:
    engine = docker_api(
        [
            container(
                "blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.3"}}, [{"PrivatePort": 80}]
            ),
            container("blog", "hostnet", {"host": {"IPAddress": ""}}, [{"PrivatePort": 80}]),
        ]
    )
    upstream.check_service_port(engine, app="blog", service="web", port=80)
    with pytest.raises(InvalidArgument, match="no running container for service 'db': start the app"):
        upstream.check_service_port(engine, app="blog", service="db", port=80)
    with pytest.raises(InvalidArgument, match="no address on a Docker network"):
        upstream.check_service_port(engine, app="blog", service="hostnet", port=80)


def test_a_port_not_exposed_is_accepted_only_when_something_listens(
    docker_api: Callable[[list[dict[str, Any]]], Engine],
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        engine = docker_api([container("blog", "web", {"appos-blog_default": {"IPAddress": "127.0.0.1"}})])
        upstream.check_service_port(engine, app="blog", service="web", port=port)
    with pytest.raises(InvalidArgument, match=f"does not expose or listen on port {port}"):
        upstream.check_service_port(engine, app="blog", service="web", port=port)


def settings(tmp_path: Path) -> ProxySettings:
    return ProxySettings(data=tmp_path, run_dir=tmp_path / "run", proxy_http_port=8000, proxy_https_port=8443)


def test_a_domain_without_a_running_container_answers_502(tmp_path: Path) -> None:
    domains = [
        proxy_pb2.Domain(domain="up.example.com", app="up", service="web", port=80, https=False),
        proxy_pb2.Domain(domain="down.example.com", app="down", service="web", port=80, https=False),
    ]
    dials = {"up.example.com": ["10.0.7.3:80"], "down.example.com": []}
    config = build_config(domains, settings(tmp_path), tmp_path / "admin.sock", dials=dials)
    routes = {
        r["match"][0]["host"][0]: r["handle"][0]
        for r in config["apps"]["http"]["servers"]["appos_http"]["routes"][:-1]
    }
    assert routes["up.example.com"] == {"handler": "reverse_proxy", "upstreams": [{"dial": "10.0.7.3:80"}]}
    down = routes["down.example.com"]
    assert down["handler"] == "static_response" and down["status_code"] == 502 and down["body"] == NOT_RUNNING


def test_the_event_stream(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    server = FakeDockerAPI(path, [])
    server.events = [
        {"Action": "start", "Actor": {"ID": "c1", "Attributes": {PROJECT_LABEL: "appos-blog"}}},
        {"Action": "die", "Actor": {"ID": "c1", "Attributes": {PROJECT_LABEL: "appos-blog"}}},
    ]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        events = Engine(f"unix://{path}").events(since=1700000000, filters={"event": ["start", "die"]})
        assert [e["Action"] for e in events] == ["start", "die"]  # and then the stream ends
        filters = {"event": ["start", "die"]}
        assert server.requests == [("/events", {"since": "1700000000", "filters": filters})]
    finally:
        server.shutdown()
        server.server_close()


# apps on a remote server: the server's address and the port Docker published there


def inspect(ident: str, bindings: dict[str, list[dict[str, str]] | None]) -> dict[str, Any]:
    """A container's inspect, as far as the proxy reads it (NetworkSettings.Ports)."""
    return {"Id": ident, "NetworkSettings": {"Ports": bindings}}


def test_the_published_port_is_dialed_at_the_servers_address_or_the_one_docker_bound() -> None:
    every = [{"HostIp": "0.0.0.0", "HostPort": "18080"}, {"HostIp": "::", "HostPort": "18080"}]
    attrs = inspect("c1", {"8080/tcp": every, "9090/tcp": [{"HostIp": "10.1.2.3", "HostPort": "19090"}]})
    assert remote.published_dials(attrs, 8080, host="10.0.0.2") == ["10.0.0.2:18080"]
    assert remote.published_dials(attrs, 8080, host="fd00::2") == ["[fd00::2]:18080"]
    assert remote.published_dials(attrs, 9090, host="10.0.0.2") == ["10.1.2.3:19090"]
    assert remote.published_dials(attrs, 7070, host="10.0.0.2") == []  # not published
    v6 = inspect("c2", {"80/tcp": [{"HostIp": "fd00::5", "HostPort": "18085"}]})
    assert remote.published_dials(v6, 80, host="10.0.0.2") == ["[fd00::5]:18085"]
    loopback = inspect("c3", {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18086"}]})
    assert remote.published_dials(loopback, 80, host="10.0.0.2") == []  # only the server reaches it
    exposed = inspect("c4", {"80/tcp": None})  # exposed, not published
    assert remote.published_dials(exposed, 80, host="10.0.0.2") == []


def test_the_servers_host_is_its_ssh_address_s_host() -> None:
    assert remote.host_of("ssh://root@10.0.0.2:22") == "10.0.0.2"
    assert remote.host_of("ssh://deploy@[fd00::2]:2222") == "fd00::2"
    assert remote.host_of("ssh://deploy@build.example.com:22") == "build.example.com"


def test_a_remote_apps_domain_dials_its_server_never_the_containers_address(
    docker_api: Callable[..., Engine],
) -> None:
    local = docker_api([container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.3"}})])
    published = [{"HostIp": "0.0.0.0", "HostPort": "18080"}]
    far = docker_api(
        [
            container("shop", "web", {"appos-shop_default": {"IPAddress": "172.18.0.2"}}, ident="s1"),
            container("shop", "web", {"appos-shop_default": {"IPAddress": "172.18.0.3"}}, ident="s2"),
        ],
        {
            "s1": inspect("s1", {"8080/tcp": published}),
            "s2": inspect("s2", {"8080/tcp": [{"HostIp": "10.0.0.2", "HostPort": "18081"}]}),
        },
    )
    placed = remote.Remote(server_of={"shop": "far"}, hosts={"far": "10.0.0.2"}, engine=lambda s: far)
    domains = [
        proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80),
        proxy_pb2.Domain(domain="shop.example.com", app="shop", service="web", port=8080),
    ]
    assert upstream.dials(local, domains, remote=placed) == {
        "blog.example.com": ["10.0.7.3:80"],
        "shop.example.com": ["10.0.0.2:18080", "10.0.0.2:18081"],
    }
    assert upstream.dials(local, domains, remote=placed, stopped="s1")["shop.example.com"] == [
        "10.0.0.2:18081"
    ]


def test_a_server_not_answering_leaves_only_its_apps_domains_without_a_dial(
    docker_api: Callable[..., Engine], tmp_path: Path
) -> None:
    local = docker_api([container("blog", "web", {"appos-blog_default": {"IPAddress": "10.0.7.3"}})])
    gone = Engine(f"unix://{tmp_path}/nothing.sock")
    placed = remote.Remote(server_of={"shop": "far"}, hosts={"far": "10.0.0.2"}, engine=lambda s: gone)
    domains = [
        proxy_pb2.Domain(domain="blog.example.com", app="blog", service="web", port=80),
        proxy_pb2.Domain(domain="shop.example.com", app="shop", service="web", port=8080),
    ]
    assert upstream.dials(local, domains, remote=placed) == {
        "blog.example.com": ["10.0.7.3:80"],
        "shop.example.com": [],
    }


def test_add_refuses_a_remote_port_it_cannot_reach(docker_api: Callable[..., Engine]) -> None:
    far = docker_api(
        [
            container("shop", "web", {"appos-shop_default": {"IPAddress": "172.18.0.2"}}, ident="s1"),
            container("shop", "admin", {"appos-shop_default": {"IPAddress": "172.18.0.3"}}, ident="s2"),
        ],
        {
            "s1": inspect("s1", {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}], "9090/tcp": None}),
            "s2": inspect("s2", {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18081"}]}),
        },
    )
    where = {"server": "far", "host": "10.0.0.2"}
    upstream.check_published_port(far, app="shop", service="web", port=8080, **where)
    with pytest.raises(InvalidArgument, match="container port 9090 is not published: publish it"):
        upstream.check_published_port(far, app="shop", service="web", port=9090, **where)
    with pytest.raises(InvalidArgument, match="published only on the loopback of server far"):
        upstream.check_published_port(far, app="shop", service="admin", port=80, **where)
    with pytest.raises(InvalidArgument, match="no running container for service 'db'"):
        upstream.check_published_port(far, app="shop", service="db", port=80, **where)
