#!/usr/bin/env python3
"""Does the work a mail request causes tell which addresses have accounts?

`requestPasswordReset` and `resendVerification` answer the same whatever the address; what an
attacker can still measure is the work the server does afterwards, by timing the requests it
sends next. This starts BINARY (default target/release/smilecook) on a fresh SQLite database
(or DATABASE_URL), registers N accounts, then, in random order, asks for a reset of a known
address and of an unknown one N times each, and after each answer times FOLLOW-UP requests
(`{ __typename }`) sent one after the other at once. It prints the median of the summed
follow-ups for each class and how well the best threshold on that sum tells the classes apart
(0.5 is a coin toss).

    python3 bench/after_answer.py [BINARY] [--samples 400] [--follow-ups 4]

The allowances of mail requests and registrations are raised for the run: every request is
counted, and the measurement is of the work, not of the throttle. Standard library only.
"""
import argparse
import http.client
import json
import random
import statistics
import sys
import time

import client

PASSWORD = "correct horse battery"
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { id } }"
RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"
FLOOR = json.dumps({"query": "{ __typename }"})


def post(conn, body):
    conn.request("POST", "/graphql", body, {"content-type": "application/json"})
    return conn.getresponse().read()


def best_accuracy(known, unknown):
    """The accuracy of the best threshold rule (either direction) on the two samples."""
    labelled = sorted([(v, 1) for v in known] + [(v, 0) for v in unknown])
    total, best = len(labelled), 0.5
    below_known = below_unknown = 0
    for value, label in labelled:
        below_known += label
        below_unknown += 1 - label
        # "known if above the threshold" and its mirror.
        right = (below_unknown + (len(known) - below_known)) / total
        best = max(best, right, 1 - right)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary", nargs="?", default="target/release/smilecook")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--follow-ups", type=int, default=4)
    args = parser.parse_args()
    big = str(10 * args.samples)
    with client.server(args.binary, REGISTER_PER_ADDRESS=big, MAIL_REQUESTS_PER_ADDRESS=big) as (port, _, _):
        measure(port, args.samples, args.follow_ups)


def measure(port, samples, follow_ups):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for k in range(samples):
        user = {"username": f"known{k}", "email": f"known{k}@example.com", "password": PASSWORD}
        post(conn, json.dumps({"query": REGISTER, "variables": {"i": user}}))
    time.sleep(3)  # the registrations' mails are written and sent before measuring
    trials = [("known", k) for k in range(samples)] + [("unknown", k) for k in range(samples)]
    random.shuffle(trials)
    sums = {"known": [], "unknown": []}
    for _ in range(50):  # warm-up
        post(conn, FLOOR)
    for kind, k in trials:
        email = f"{kind}{k}@example.com"
        post(conn, json.dumps({"query": RESET, "variables": {"e": email}}))
        spent = 0.0
        for _ in range(follow_ups):
            started = time.perf_counter()
            post(conn, FLOOR)
            spent += time.perf_counter() - started
        sums[kind].append(spent * 1e6)
        time.sleep(0.01)
    known, unknown = sums["known"], sums["unknown"]
    print(f"{samples} samples each, {follow_ups} follow-ups after each answer")
    print(f"summed follow-up time, median: known {statistics.median(known):.0f} us, "
          f"unknown {statistics.median(unknown):.0f} us")
    print(f"best threshold tells them apart with accuracy {best_accuracy(known, unknown):.2f} "
          "(0.5: a coin toss)")
    # The same rule fitted to two halves of one class: what noise alone scores.
    shuffled = random.sample(unknown, len(unknown))
    half = len(shuffled) // 2
    noise = best_accuracy(shuffled[:half], shuffled[half:])
    print(f"noise floor (two halves of the unknown addresses): {noise:.2f}")


if __name__ == "__main__":
    sys.exit(main())
