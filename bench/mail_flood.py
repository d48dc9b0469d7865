#!/usr/bin/env python3
"""Registration as a mail cannon: does a flood delay the mail a real user asks for?

Starts BINARY (default target/release/smilecook) with EMAIL_VERIFICATION=publish, a fresh
SQLite database (or DATABASE_URL) and a local SMTP sink that takes SMTP_DELAY_MS per message
(a real server's pace), registers and verifies one real user, then floods `register` from 20
client addresses (127.0.0.2 to 127.0.0.21, real source addresses on loopback) while, every
two seconds, one of the real users (registered and verified before, each asking once, so that
no throttle of theirs is involved) asks for a password reset from yet another address. Prints
the time from each request to the mail's arrival at the SMTP server, and what the flood got
through: registrations accepted and refused, mails delivered.

    python3 bench/mail_flood.py [BINARY] [--seconds 30] [--unthrottled]

--unthrottled raises the registration throttles out of the way (REGISTER_PER_ADDRESS,
REGISTER_PER_MAILBOX), to show that the owner's lane alone keeps resets on time behind a
flood of thousands of bulk mails. Standard library only.
"""
import argparse
import asyncio
import http.client
import json
import os
import re
import statistics
import sys
import threading
import time

import client

PASSWORD = "correct horse battery"
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { id } }"
RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"
VERIFY = "mutation($t: String!) { verifyEmail(token: $t) }"


class Sink:
    """An SMTP server in a thread of its own: keeps (arrival time, recipients, data)."""

    def __init__(self, delay):
        self.delay, self.mails, self.port = delay, [], None
        self.ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self.serve()), daemon=True).start()
        self.ready.wait()

    async def serve(self):
        server = await asyncio.start_server(self.session, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        await server.serve_forever()

    async def session(self, reader, writer):
        writer.write(b"220 sink ESMTP\r\n")
        to, data = [], None
        while line := await reader.readline():
            text = line.decode(errors="replace").rstrip("\r\n")
            if data is not None:
                if text == ".":
                    await asyncio.sleep(self.delay)
                    self.mails.append((time.monotonic(), to, "\n".join(data)))
                    to, data = [], None
                    writer.write(b"250 queued\r\n")
                else:
                    data.append(text[1:] if text.startswith("..") else text)
                continue
            verb = text[:4].upper()
            if verb in ("EHLO", "HELO"):
                writer.write(b"250 sink\r\n")
            elif verb == "RCPT":
                to.append(re.search(r"<(.*)>", text).group(1))
                writer.write(b"250 ok\r\n")
            elif verb == "DATA":
                data = []
                writer.write(b"354 go on\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    def find(self, needle, to=None):
        return [m for m in list(self.mails) if needle in m[2] and (to is None or to in m[1])]


def call(port, query, variables, source="127.0.0.1"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    conn.request("POST", "/graphql", json.dumps({"query": query, "variables": variables}),
                 {"content-type": "application/json"})
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def token_of(mail):
    return next(l.strip() for l in mail.splitlines() if re.fullmatch(r"[A-Za-z0-9_-]{43}", l.strip()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary", nargs="?", default="target/release/smilecook")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--unthrottled", action="store_true")
    args = parser.parse_args()
    sink = Sink(float(os.environ.get("SMTP_DELAY_MS", "40")) / 1000)
    settings = dict(EMAIL_VERIFICATION="publish", SMTP_URL=f"smtp://127.0.0.1:{sink.port}")
    if args.unthrottled:
        settings.update(REGISTER_PER_ADDRESS="1000000", REGISTER_PER_MAILBOX="1000000")
    with client.server(args.binary, **settings) as (port, _, _):
        run(port, sink, args.seconds)


def run(port, sink, seconds):
    users = [f"real.user{k}@example.com" for k in range(int(seconds / 2) + 2)]
    for k, email in enumerate(users):
        user = {"username": f"real_user{k}", "email": email, "password": PASSWORD}
        call(port, REGISTER, {"i": user}, f"127.0.1.{k + 1}")
    for email in users:
        while not sink.find("Subject: Verify", email):
            time.sleep(0.05)
        token = token_of(sink.find("Subject: Verify", email)[0][2])
        assert call(port, VERIFY, {"t": token})["data"]["verifyEmail"], "verified"

    stop = time.monotonic() + seconds
    counts = {"accepted": 0, "refused": 0, "other": 0}
    lock = threading.Lock()

    def flood(address, n):
        i = 0
        while time.monotonic() < stop:
            i += 1
            name = f"f{n}_{i}"
            answer = call(port, REGISTER, {"i": {"username": name, "email": f"victim{n}.{i}@example.com",
                                                 "password": PASSWORD}}, address)
            code = (answer.get("errors") or [{}])[0].get("extensions", {}).get("code")
            with lock:
                key = "accepted" if code is None else "refused" if code == "TOO_MANY_REQUESTS" else "other"
                counts[key] += 1
            if code == "TOO_MANY_REQUESTS":
                time.sleep(0.05)

    threads = [threading.Thread(target=flood, args=(f"127.0.0.{n + 2}", n)) for n in range(20)]
    for t in threads:
        t.start()
    delays = []
    time.sleep(1)
    for email in users:
        if time.monotonic() >= stop:
            break
        at = time.monotonic()
        answer = call(port, RESET, {"e": email}, "127.0.0.100")
        assert answer.get("data", {}).get("requestPasswordReset"), answer
        while not sink.find("Subject: Reset", email):
            if time.monotonic() - at > 120:
                raise SystemExit("a reset mail did not arrive in 2 minutes")
            time.sleep(0.01)
        delays.append(sink.find("Subject: Reset", email)[0][0] - at)
        time.sleep(max(0.0, 2 - (time.monotonic() - at)))
    for t in threads:
        t.join()
    bulk = len([m for m in sink.mails if "victim" in " ".join(m[1])])
    print(f"flood: {seconds:.0f} s from 20 addresses: {counts['accepted']} registrations accepted, "
          f"{counts['refused']} refused (TOO_MANY_REQUESTS), {counts['other']} other; "
          f"{bulk} flood mails delivered by the end")
    print(f"resets: {len(delays)} asked; delay to the SMTP server (s): "
          f"median {statistics.median(delays):.2f}, max {max(delays):.2f}")
    print("target: every reset within 5 s:", "met" if max(delays) < 5 else "NOT met")


if __name__ == "__main__":
    sys.exit(main())
