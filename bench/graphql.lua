-- wrk script: sends one GraphQL request, taken from the environment so run.sh can drive every
-- scenario with this one file.
--   BENCH_BODY      the JSON request body (POST)
--   BENCH_PATH      instead: a path to GET (`/graphql?documentId=...`)
--   BENCH_DISTINCT  with BENCH_BODY: every `{n}` in it is replaced by a number no other request
--                   of the run has, so that each request has variables of its own
--   BENCH_TOKEN     an access token (optional)
local path = os.getenv("BENCH_PATH")
if path and path ~= "" then
  wrk.method = "GET"
  wrk.path = path
else
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
end
wrk.headers["Accept"] = "application/graphql-response+json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- Each wrk thread runs its own copy of this script; setup numbers them (the global `tag`).
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tag", threads)
end

local distinct = os.getenv("BENCH_DISTINCT")
if distinct and distinct ~= "" then
  local sent = 0
  request = function()
    sent = sent + 1
    local body = string.gsub(wrk.body, "{n}", tostring(tag) .. "-" .. sent)
    return wrk.format(nil, nil, nil, body)
  end
end

local failures = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
    if failures == 1 then
      io.stderr:write("first failing response: " .. status .. " " .. string.sub(body, 1, 300) .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
