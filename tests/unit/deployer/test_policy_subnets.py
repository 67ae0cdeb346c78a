"""An app network's IPAM addresses: private ranges only, and none on the host's own routes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from services.deployer.policy import subnets

HOST = [ipaddress.ip_network("192.168.1.0/24"), ipaddress.ip_network("fd00::/64")]


@pytest.mark.parametrize(
    "entry",
    [
        {"subnet": "203.0.113.0/24"},
        {"subnet": "169.254.169.0/24"},
        {"subnet": "0.0.0.0/1"},
        {"subnet": "10.0.0.0/8", "gateway": "8.8.8.8"},
        {"subnet": "172.30.0.0/16", "aux_addresses": {"dns": "1.1.1.1"}},
        {"subnet": "2001:db8::/64"},
        {"subnet": "not a subnet"},
    ],
)
def test_public_or_malformed_addresses_are_refused(entry: dict[str, object]) -> None:
    found = subnets.violations("network n: ipam", [entry], routes=[])
    assert found and all(v.rule == "network_driver" for v in found)


@pytest.mark.parametrize("subnet", ["192.168.1.128/25", "192.168.0.0/16", "fd00::/48"])
def test_a_private_subnet_on_a_host_route_is_refused(subnet: str) -> None:
    found = subnets.violations("network n: ipam", [{"subnet": subnet}], routes=HOST)
    assert found and "overlaps the host's route" in found[0].message


def test_a_private_subnet_off_the_host_routes_is_allowed() -> None:
    config = [{"subnet": "172.28.5.0/24", "gateway": "172.28.5.1", "ip_range": "172.28.5.128/25"}]
    assert subnets.violations("network n: ipam", config, routes=HOST) == []


def test_host_routes_skip_default_docker_and_loopback_routes(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "docker0\t0000D50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "br-abc\t0003D50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    (tmp_path / "ipv6_route").write_text(
        "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
        "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fd000000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
    )
    assert subnets.host_routes(tmp_path) == [
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("fd00::/64"),
    ]
