#!/usr/bin/env python3
"""How soon a write on one instance reaches the cached public answers of another.

    bench/invalidation.py WRITER_PORT READER_PORT TOKEN [WRITES]

Four threads keep asking the reader instance for the public count of recipes (anonymous, so
answered from its cache), which keeps that cache full of answers computed while writes commit.
The writer instance then creates and publishes WRITES recipes one after the other (as the user
of TOKEN); after each publish has been answered, the reader is asked until its answer counts
the new recipe. Prints the delays (from the publish's answer to the first up-to-date answer)
as `RESULT writes=N stale_reads=S p50_ms=.. p99_ms=.. max_ms=..`; stale_reads counts answers
that were read after the publish's answer and did not count it yet.
"""
import http.client
import json
import sys
import threading
import time

COUNT = "query Count { recipes { totalCount } }"
CREATE = "mutation C($input: CreateRecipeInput!) { createRecipe(input: $input) { id } }"
PUBLISH = "mutation P($id: ID!) { publishRecipe(id: $id) { id } }"


def post(conn, query, variables=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request("POST", "/graphql", json.dumps({"query": query, "variables": variables or {}}), headers)
    body = json.loads(conn.getresponse().read())
    if body.get("errors"):
        sys.exit("GraphQL errors: " + json.dumps(body["errors"])[:300])
    return body["data"]


def count(conn):
    return post(conn, COUNT)["recipes"]["totalCount"]


def main():
    writer_port, reader_port, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    writes = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    stop = threading.Event()

    def hammer():
        conn = http.client.HTTPConnection("127.0.0.1", reader_port, timeout=30)
        while not stop.is_set():
            count(conn)

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    writer = http.client.HTTPConnection("127.0.0.1", writer_port, timeout=30)
    reader = http.client.HTTPConnection("127.0.0.1", reader_port, timeout=30)
    recipe = {"description": "bench", "numOfServings": 2, "cookTime": 30,
              "ingredients": "water\nsalt", "directions": "Boil the water."}
    delays, stale = [], 0
    for i in range(writes):
        before = count(reader)
        created = post(writer, CREATE, {"input": dict(recipe, name=f"Invalidation {i}")}, token)
        post(writer, PUBLISH, {"id": created["createRecipe"]["id"]}, token)
        answered = time.perf_counter()
        while count(reader) <= before:
            stale += 1
            if time.perf_counter() - answered > 10:
                sys.exit(f"write {i} not seen on the reader within 10 s")
        delays.append((time.perf_counter() - answered) * 1000)
    stop.set()
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
    print(f"RESULT writes={writes} stale_reads={stale} p50_ms={pick(0.5):.3f} "
          f"p99_ms={pick(0.99):.3f} max_ms={delays[-1]:.3f}")


main()
