"""Diagnostic launcher: ``aicc`` with TCP_NODELAY set on its listening socket.

``aicc.runner._bind`` creates the listener as ``socket.socket(family, SOCK_STREAM)`` (proto 0),
so asyncio's transport does not set TCP_NODELAY on accepted connections (it only does for
``proto == IPPROTO_TCP``). Headers and body then leave in two writes and Nagle holds the second
until the client's delayed ACK (~40 ms per keep-alive request). Linux copies TCP_NODELAY from
the listener to accepted sockets, so setting it here shows what the service does without the
stall. Same arguments as ``aicc``:

    python bench/apps/aicc_nodelay.py serve monitoring --port 8000
"""

from __future__ import annotations

import socket
import sys

from aicc import runner
from aicc.cli import main

_bind = runner._bind


def _bind_nodelay(host: str, port: int) -> socket.socket:
    sock = _bind(host, port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


runner._bind = _bind_nodelay

if __name__ == "__main__":
    sys.exit(main())
