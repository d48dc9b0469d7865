-- wrk -s bench/dpop_me.lua: POSTs `{ me { id username } }` with a DPoP-bound token ($TOKEN)
-- and a proof per request, each used once, read from the file $PROOFS (one per line, made
-- ahead by bench/dpop_proofs.mjs); thread i of n takes lines i, i + n, ... A thread that runs
-- out of proofs sends its last one again, which the server refuses: GraphQL answers that with
-- 200, so the script counts answers without the username itself and prints them.
local threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("index", count)
  table.insert(threads, thread)
end

function init(args)
  local all = {}
  for line in io.lines(os.getenv("PROOFS")) do
    table.insert(all, line)
  end
  local n = tonumber(os.getenv("WRK_THREADS") or "1")
  mine = {}
  for i = index, #all, n do
    table.insert(mine, all[i])
  end
  next_proof = 1
  refused = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "DPoP " .. os.getenv("TOKEN")
  wrk.body = '{"query":"{ me { id username } }"}'
end

function request()
  local proof = mine[math.min(next_proof, #mine)]
  next_proof = next_proof + 1
  wrk.headers["DPoP"] = proof
  return wrk.format()
end

function response(status, headers, body)
  if not string.find(body, '"username"', 1, true) then
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("refused")
  end
  io.write(string.format("refused: %d\n", total))
end
