"""Tiny GraphQL client for the benchmark scripts (standard library only)."""
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def call(port, query, variables=None, token=None, conn=None, operation=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = {"query": query, "variables": variables or {}}
    if operation:
        request["operationName"] = operation
    body = json.dumps(request)
    conn.request("POST", "/graphql", body, headers)
    result = json.loads(conn.getresponse().read())
    if own:
        conn.close()
    return result


REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { id } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"


def user_token(port, name, password="correct horse battery"):
    """Registers `name` (if new) and returns an access token."""
    call(port, REGISTER, {"i": {"username": name, "email": f"{name}@example.com", "password": password}})
    result = call(port, LOGIN, {"i": {"login": name, "password": password}})
    return result["data"]["login"]["accessToken"]


def check_me(port, token, document=None):
    """Fails unless the request the load test sends answers with the user."""
    query, operation = "{ me { id username } }", None
    if document:
        query, operation = open(document).read(), "Me"
    result = call(port, query, token=token, operation=operation)
    assert result.get("data", {}).get("me", {}).get("username"), result


@contextlib.contextmanager
def server(binary, **settings):
    """Runs `binary` on a free port with a fresh SQLite database (unless DATABASE_URL is set)
    and the environment variables `settings`; yields the port once it accepts connections, and
    its folder (the database, the log) and its process. Stops it at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tempfile.mkdtemp()
    env = dict(os.environ, RUST_LOG="warn", BIND=f"127.0.0.1:{port}", MAIL_DIR=f"{work}/mail",
               JWT_SECRET="bench-secret-bench-secret-bench-secret-0123",
               DATABASE_URL=os.environ.get("DATABASE_URL", f"sqlite://{work}/bench.db?mode=rwc"))
    # Rate-limit budgets no load from one address reaches (`settings` may set others).
    env.update(RATE_LIMIT_ADDRESS="1000000000", RATE_LIMIT_USER="1000000000")
    env.update(settings)
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                               stderr=open(f"{work}/log", "w"))
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port, work, process
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    print(user_token(int(sys.argv[1]), sys.argv[2]))
