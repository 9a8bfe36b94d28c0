"""Small raw HTTP/1.1 servers on localhost that behave in one way a client must survive: answer
with keep-alive and count connections, drip a body byte by byte, or send an endless body."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

HEALTH = {"status": "ok", "service": "churn", "version": "v2", "lifecycle": "active"}


@dataclass
class Recorded:
    """What the server saw: connections accepted, requests read, their User-Agent headers."""

    connections: int = 0
    requests: int = 0
    user_agents: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _read_request(connection: socket.socket) -> dict[str, str]:
    """The request line and headers of one request (the test clients send no body on GET)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return {}
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {"_line": head[0]}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


@contextmanager
def serving(behaviour: str, *, drip_seconds: float = 0.2) -> Iterator[tuple[str, Recorded]]:
    """A server of one `behaviour` ("json", "drip", "huge", "endless"), its base URL and record."""
    recorded = Recorded()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            connection: socket.socket = self.request
            with recorded.lock:
                recorded.connections += 1
            while True:
                headers = _read_request(connection)
                if not headers:
                    return
                with recorded.lock:
                    recorded.requests += 1
                    recorded.user_agents.append(headers.get("user-agent", ""))
                try:
                    if not self.answer(connection):
                        return
                except OSError:
                    return

        def answer(self, connection: socket.socket) -> bool:
            if behaviour == "json":
                body = json.dumps(HEALTH).encode()
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                return True
            if behaviour == "drip":
                connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                for _ in range(1000):
                    connection.sendall(b" ")
                    time.sleep(drip_seconds)
                return False
            if behaviour == "huge":
                size = 64 * 1024 * 1024
                connection.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
                return False
            chunk = b"0" * 65536
            connection.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            while True:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorded
    finally:
        server.shutdown()
        server.server_close()
