#!/usr/bin/env python3
"""How long the costliest documents a client can send take to be answered: every shape the
robustness tests send, at the size limit, timed one at a time against a running server.

    python3 bench/hostile.py [URL]        # default http://127.0.0.1:8000/graphql

Each document is sent 20 times; the table gives the median and the slowest answer in ms, the
answer's code, and the document's size. Run it against a release build (`bench/serve.sh`, or
`cargo run --release`) on the default limits: every step before execution is linear in the
document, so no line should come near the request time limit.
"""

import json
import statistics
import sys
import time
import urllib.error
import urllib.request

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/graphql"
LIMIT = 16 * 1024


def fit(make):
    """The largest `make(n)` within the query size limit."""
    lo, hi = 1, LIMIT
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(make(mid)) <= LIMIT:
            lo = mid
        else:
            hi = mid - 1
    return make(lo)


def doubling(levels, operation="{ ...F0 }", leaf="a: __typename"):
    frags = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join([operation, *frags, f"fragment F{levels} on Query {{ {leaf} }}"])


DOCUMENTS = {
    "list value nested": fit(lambda d: "{ recipe(id: " + "[" * d + "1" + "]" * d + ") { id } }"),
    "object value nested": fit(lambda d: "mutation { createRecipe(input: " + "{a: " * d + "1" + "}" * d + ") { id } }"),
    "selections nested": fit(lambda d: "{ " + "a { " * d + "b" + " }" * d + " }"),
    "fragments doubling 2^40": doubling(40),
    "unused fragments doubling": doubling(40, "{ __typename }", "__typename"),
    "fragment chain": fit(lambda n: "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n)) + f" fragment F{n} on Query {{ __typename }}"),
    "fields repeated": fit(lambda n: "{ " + " ".join(["__typename"] * n) + " }"),
    "aliases repeated": fit(lambda n: "{ " + " ".join(f"a{i}:__typename" for i in range(n)) + " }"),
    "directives repeated": fit(lambda n: "{ __typename " + "@skip(if:false)" * n + " }"),
    "arguments repeated": fit(lambda n: '{ user(username: "x", ' + ",".join(["a: 1"] * n) + ") { id } }"),
    "variables repeated": fit(lambda n: "query(" + " ".join(f"$v{i}:Int" for i in range(n)) + ") { __typename }"),
    "operations repeated": fit(lambda n: " ".join(f"query Q{i}{{__typename}}" for i in range(n))),
    "inline fragments repeated": fit(lambda n: "{ " + " ".join(["...on Query{__typename}"] * n) + " }"),
    "list items repeated": fit(lambda n: "{ recipe(id: [" + ",".join(["1"] * n) + "]) { id } }"),
    "fields merged 3 deep": fit(lambda n: "{ " + " ".join(["me { recipes { edges { node { id } } } }"] * n) + " }"),
}


def send(document):
    body = json.dumps({"query": document}).encode()
    request = urllib.request.Request(URL, data=body, headers={"content-type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = response.read()
    except urllib.error.HTTPError as error:
        answer = error.read()
    elapsed = (time.perf_counter() - start) * 1000
    errors = json.loads(answer).get("errors") or [{}]
    return elapsed, (errors[0].get("extensions") or {}).get("code", "ok")


print(f"{'document':28} {'bytes':>6} {'median ms':>10} {'max ms':>8}  code")
for name, document in DOCUMENTS.items():
    times, code = [], ""
    for _ in range(20):
        elapsed, code = send(document)
        times.append(elapsed)
    print(f"{name:28} {len(document):6} {statistics.median(times):10.2f} {max(times):8.2f}  {code}")
