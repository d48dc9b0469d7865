"""Floods `login` from many concurrent clients for a few seconds, then prints throughput and
the server's peak resident memory (VmHWM). Usage: login_flood.py PORT PID [CLIENTS] [SECONDS]"""
import http.client
import sys
import threading
import time

import client

port, pid = int(sys.argv[1]), int(sys.argv[2])
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 64
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 8.0


def status(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return line.split(":")[1].strip()


client.user_token(port, "flood")
ok, failed = [0], [0]
lock = threading.Lock()
deadline = time.monotonic() + seconds


def worker():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < deadline:
        result = client.call(port, client.LOGIN, {"i": {"login": "flood", "password": "correct horse battery"}}, conn=conn)
        with lock:
            if result.get("data") and result["data"].get("login"):
                ok[0] += 1
            else:
                failed[0] += 1


print(f"before: VmRSS {status('VmRSS')}, VmHWM {status('VmHWM')}")
started = time.monotonic()
threads = [threading.Thread(target=worker) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - started
print(f"{clients} clients, {elapsed:.1f}s: {ok[0]} logins ({ok[0] / elapsed:.1f}/s), {failed[0]} failed")
print(f"after:  VmRSS {status('VmRSS')}, VmHWM {status('VmHWM')}")
