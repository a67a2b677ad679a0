"""Where a webhook goes: the host resolved, every address checked, and the request aimed at
the address that was checked.

Checking a name and then letting the HTTP client resolve it again would let a name that
changes its answer between the two (DNS rebinding) slip a private address through. So the
request goes to the checked IP itself, with the original name in ``Host`` and, for https, as
the TLS server name, against which the certificate is verified.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import anyio

from sessionkeeper.webhooks.rules import TargetRefused, refused_address, target_parts


@dataclass(frozen=True, slots=True)
class Target:
    # The URL once per checked address, the IP in place of the host name, in the resolver's
    # order of preference: the next is tried when one cannot be connected to.
    urls: tuple[str, ...]
    host_header: str
    tls_server_name: str | None  # for https


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _addresses(host: str, port: int) -> list[str]:
    if _is_ip(host):
        return [host]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"the host {host!r} does not resolve ({exc})") from None
    found = [str(info[4][0]) for info in infos]
    if not found:
        raise TargetRefused(f"the host {host!r} does not resolve")
    return found


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The target of ``url``, or :class:`TargetRefused` saying why it may not be called."""
    parts = target_parts(url)
    host = parts.hostname
    assert host is not None  # target_parts refuses a URL without one
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not allow_private:
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                raise TargetRefused(
                    f"{host} resolves to {address}, a {reason} address; private targets "
                    "need SESSIONKEEPER_WEBHOOK_ALLOW_PRIVATE=true"
                )
    urls = []
    for address in dict.fromkeys(addresses):
        literal = f"[{address}]" if ":" in address else address
        urls.append(parts._replace(netloc=f"{literal}:{port}", fragment="").geturl())
    return Target(
        urls=tuple(urls),
        host_header=parts.netloc,  # target_parts refused credentials: host[:port] only
        tls_server_name=host if parts.scheme == "https" else None,
    )
