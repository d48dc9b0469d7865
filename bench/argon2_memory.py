"""What argon2 costs in memory (README, "Operating"): starts BINARY with ARGON2_THREADS=N on a
fresh SQLite database, reads the server's resident memory idle, right after a burst of logins
from 4N parallel clients, and again once the hashing threads have been idle for 12 s (they give
their work areas back after 10 s).

    python3 bench/argon2_memory.py target/release/smilecook 2 8 16
"""
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import client  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def burst(port, clients, rounds=3):
    """`rounds` logins by each of `clients` users at once (one user each: the throttles count
    attempts per account)."""
    def login(name):
        for _ in range(rounds):
            result = client.call(port, client.LOGIN, {"i": {"login": name, "password": "correct horse battery"}})
            assert result.get("data"), result
    threads = [threading.Thread(target=login, args=(f"cook{i}",)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(binary, threads):
    with client.server(binary, ARGON2_THREADS=str(threads), REGISTER_PER_ADDRESS="1000") as (port, _, process):
        for i in range(4 * threads):
            client.user_token(port, f"cook{i}")
        time.sleep(12)
        idle = rss_mib(process.pid)
        burst(port, 4 * threads)
        after_burst = rss_mib(process.pid)
        time.sleep(12)
        after_idle = rss_mib(process.pid)
    print(f"ARGON2_THREADS={threads:>2}: idle {idle:6.1f} MiB, after the burst {after_burst:6.1f} MiB, "
          f"12 s later {after_idle:6.1f} MiB")


if __name__ == "__main__":
    for n in sys.argv[2:] or ["4"]:
        measure(sys.argv[1], int(n))
