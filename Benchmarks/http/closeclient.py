"""Sends exactly N HTTP/1.1 requests to 127.0.0.1:PORT, each on its own connection with
`Connection: close`, one after another, and reads each answer to the end of the stream.

Used by Benchmarks/http/run.sh under callgrind, where the count must be exact (wrk's is not:
it runs for a time) and the client's own cost does not matter (only the server is counted).
Exits 1 unless every request got a 200.

Usage: python3 closeclient.py PORT N
"""
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
request = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: closeclient\r\nConnection: close\r\n\r\n"
bad = 0
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(request)
    reply = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    if not reply.startswith(b"HTTP/1.1 200 "):
        bad += 1
if bad:
    print(f"{bad} of {n} requests not answered 200", file=sys.stderr)
    sys.exit(1)
