-- wrk -s bench/me.lua: POSTs `{ me { id username } }` with the access token in $TOKEN.
wrk.method = "POST"
wrk.body = '{"query":"{ me { id username } }"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
