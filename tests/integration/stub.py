"""A stand-in HTTP server for the tests that point the CLI or a page at nodes that lie
(lying_node.py, page_test.py). Standard library only; importing it does nothing else."""

import socket
import threading


class Stub:
    """Listens on a free port of `address`; for each connection, in a thread of its own, reads
    the request head, keeps its first line in `requests`, calls handler(conn) to answer and
    closes the connection."""

    def __init__(self, handler, address="127.0.0.1", timeout=30):
        self.handler, self.timeout = handler, timeout
        self.requests = []
        self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(16)
        host = "[%s]" % address if ":" in address else address
        self.url = "http://%s:%d" % (host, self.sock.getsockname()[1])
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # Closed.
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(self.timeout)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def answer(body, content_type="application/json", cors=False):
    """A handler that answers 200 with `body`, and with `Access-Control-Allow-Origin: *` when
    cors (as real nodes answer, so that a saved page may read it)."""
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n" % content_type.encode() +
            (b"Access-Control-Allow-Origin: *\r\n" if cors else b"") +
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))

    def handler(conn):
        conn.sendall(head + body)
    return handler
