"""Puts N revoked entries into the SQLite denylist table. Usage: fill_denylist.py URL N"""
import sqlite3
import sys
import time
import uuid

if not sys.argv[1].startswith("sqlite:"):
    sys.exit(0)  # Only SQLite is filled (PostgreSQL checks are one index lookup either way).
path = sys.argv[1].removeprefix("sqlite://").split("?")[0]
n = int(sys.argv[2])
expires = int(time.time()) + 86400
db = sqlite3.connect(path)
db.executemany(
    "INSERT INTO token_denylist(key, expires_at) VALUES (?, ?)",
    [(f"{'jti' if i % 2 else 'sid'}:{uuid.uuid4()}", expires) for i in range(n)],
)
db.commit()
