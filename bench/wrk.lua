-- Gateway bench wrk script (same requests and output as peerbench's wrk/bench.lua, plus a start offset).
--   wrk ... -s bench/wrk.lua URL -- TOKENS_FILE [PATH] [START] [THREADS]
-- Every request carries "Authorization: Bearer <token>", cycling through the tokens in TOKENS_FILE.
-- All requests are pre-formatted in init(), so per-request Lua cost is identical for 1 or N tokens.
--
-- START (0-based line) is where the cycle begins. run.sh passes the position where the previous run
-- on the same token file stopped, so that warm-up and all rounds walk ONE continuous cycle through the
-- file: a token then recurs only after all the other N-1 tokens were sent. (peerbench's bench.lua
-- starts at math.random(n), which LuaJIT does not seed: every run would replay the same tokens from
-- the same offset, and a verification cache larger than one run's request count would see hits.)
-- With several threads (THREADS = wrk -t), thread k starts at START + k*n/THREADS.
-- done() prints one machine-readable line:  PEERBENCH_JSON {...}
local reqs, n, i = {}, 0, 0
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local file = args[1] or error("usage: -- TOKENS_FILE [PATH] [START]")
  local path = args[2] or "/api/v4/profiles"
  local start = tonumber(args[3] or "0")
  local nt = tonumber(args[4] or "1")
  for line in io.lines(file) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
    end
  end
  if n == 0 then error("no tokens in " .. file) end
  local k = tonumber(tid or 0)
  if nt < 1 then nt = 1 end
  i = (start + math.floor(k * n / nt)) % n   -- request() pre-increments: first token is line i+1
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PEERBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.1f,' ..
    '"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
