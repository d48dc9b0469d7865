-- wrk -s bench/me.lua: POSTs `{ me { id username } }` with the access token in $TOKEN; with
-- $DOCUMENT set, sends that whole file as the query with `operationName: "Me"` instead (as
-- clients that keep all operations in one document do).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"query":"{ me { id username } }"}'

local document = os.getenv("DOCUMENT")
if document then
  local file = assert(io.open(document))
  local text = file:read("*a"):gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", "\\n")
  file:close()
  wrk.body = '{"query":"' .. text .. '","operationName":"Me"}'
end
