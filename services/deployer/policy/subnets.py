"""Subnets an app's network may claim (`ipam.config`). Docker adds a host route for each one through
the app's bridge, so a subnet is also a claim on the host's own traffic: a public range (the cloud
metadata address, a DNS resolver's network) or the host's LAN would send the host's packets to the
operator's containers. Allowed: private ranges (RFC 1918, IPv6 unique-local) that overlap no route
of the host's other than Docker's own bridges (Docker itself refuses overlaps between its networks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.deployer.policy.violations import Violation

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE: tuple[Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
RULE = "network_driver"
_ADDRESS_KEYS = ("subnet", "ip_range", "gateway")


def violations(where: str, config: Any, routes: list[Network] | None = None) -> list[Violation]:
    """What in an `ipam.config` list claims addresses outside the private ranges or on the host's
    own routes (`routes`: the host's, read from /proc when not given)."""
    if not config:
        return []
    if not isinstance(config, list):
        return [Violation(RULE, f"{where}: config must be a list")]
    found = []
    for entry in config:
        if not isinstance(entry, dict):
            found.append(Violation(RULE, f"{where}: config entries must be mappings"))
            continue
        for key in _ADDRESS_KEYS:
            if entry.get(key):
                found += _claim(f"{where}: {key} {entry[key]}", str(entry[key]), routes)
        for host, address in (entry.get("aux_addresses") or {}).items():
            found += _claim(f"{where}: aux_addresses {host} {address}", str(address), routes)
    return found


def _claim(where: str, text: str, routes: list[Network] | None) -> list[Violation]:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return [Violation(RULE, f"{where} is not an address or a subnet")]
    if not any(_within(network, p) for p in PRIVATE):
        return [
            Violation(
                RULE,
                f"{where} is not a private range: the host would send its own traffic for it to the "
                "app; use 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or fc00::/7",
            )
        ]
    taken = [r for r in (host_routes() if routes is None else routes) if _overlap(r, network)]
    if taken:
        return [
            Violation(
                RULE,
                f"{where} overlaps the host's route to {taken[0]}: the host's traffic there would go to "
                "the app; pick another private range",
            )
        ]
    return []


def _within(a: Network, b: Network) -> bool:
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.subnet_of(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.subnet_of(b)
    return False


def _overlap(a: Network, b: Network) -> bool:
    return a.version == b.version and (_within(a, b) or _within(b, a))


def host_routes(proc: Path = Path("/proc/net")) -> list[Network]:
    """The host's routes (IPv4 and IPv6) except the default ones and Docker's bridges."""
    return [*_ipv4_routes(proc / "route"), *_ipv6_routes(proc / "ipv6_route")]


def _docker(interface: str) -> bool:
    """Docker's own bridges (the default one and user-defined ones) and loopback."""
    return interface == "docker0" or interface.startswith("br-") or interface == "lo"


def _ipv4_routes(path: Path) -> Iterator[Network]:
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or _docker(fields[0]):
            continue
        destination = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
        mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
        network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        if network.prefixlen:
            yield network


def _ipv6_routes(path: Path) -> Iterator[Network]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or _docker(fields[9]):
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        network = ipaddress.IPv6Network(f"{address}/{int(fields[1], 16)}", strict=False)
        if network.prefixlen and not network.is_link_local and not network.is_multicast:
            yield network
