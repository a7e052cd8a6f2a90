"""A loopback HTTPS server fast enough not to be what a benchmark measures.

Usage: ``python fast_server.py CERT_CHAIN KEY BODY_FILE``. It listens on 127.0.0.1 (a free port,
printed on stdout), answers every GET with the same pre-built 200 response, keeps connections
alive, and exits when its stdin closes. One thread per connection: clients here keep one
connection each (warm calls) or open one per process (cold commands), so there are few.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading


def build_response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def serve_connection(raw: socket.socket, context: ssl.SSLContext, response: bytes) -> None:
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        with context.wrap_socket(raw, server_side=True) as conn:
            pending = b""
            while True:
                while b"\r\n\r\n" not in pending:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    pending += chunk
                _, _, pending = pending.partition(b"\r\n\r\n")  # GETs carry no body
                conn.sendall(response)
    except (OSError, ssl.SSLError):
        return


def main() -> None:
    cert, key, body_file = sys.argv[1:4]
    with open(body_file, "rb") as handle:
        response = build_response(handle.read())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    print(listener.getsockname()[1], flush=True)

    def accept_loop() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_connection, args=(raw, context, response), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    sys.stdin.buffer.read()  # returns when the parent closes our stdin or dies
    listener.close()


if __name__ == "__main__":
    main()
