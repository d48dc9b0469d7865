"""Write-heavy load: CLIENTS sessions each rotating their refresh token as fast as they can for
SECONDS (every rotation is an UPDATE). Prints rotations per second and any errors.
Usage: refresh_flood.py PORT [CLIENTS] [SECONDS]"""
import http.client
import sys
import threading
import time

import client

port = int(sys.argv[1])
clients = int(sys.argv[2]) if len(sys.argv) > 2 else 16
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { refreshToken } }"

client.user_token(port, "rotor")
tokens = [
    client.call(port, LOGIN, {"i": {"login": "rotor", "password": "correct horse battery"}})["data"]["login"]["refreshToken"]
    for _ in range(clients)
]
ok, errors = [0], {}
lock = threading.Lock()
deadline = time.monotonic() + seconds


def worker(token):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < deadline:
        result = client.call(port, REFRESH, {"t": token}, conn=conn)
        with lock:
            if result.get("data") and result["data"].get("refreshToken"):
                token = result["data"]["refreshToken"]["refreshToken"]
                ok[0] += 1
            else:
                code = result["errors"][0].get("extensions", {}).get("code")
                errors[code] = errors.get(code, 0) + 1
                return


started = time.monotonic()
threads = [threading.Thread(target=worker, args=(t,)) for t in tokens]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{clients} sessions: {ok[0] / (time.monotonic() - started):.0f} rotations/s, errors {errors}")
