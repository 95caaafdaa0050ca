-- wrk script of bench/mcp-bench.sh: JSON-RPC POSTs, cycling through pre-formatted requests.
--   wrk ... -s bench/wrk-mcp.lua URL -- BODIES_FILE TOKEN_FILE PATH
-- BODIES_FILE has one request body a line (bench/mcp-load.js bodies ...); every request carries
-- "Authorization: Bearer <first line of TOKEN_FILE>", Content-Type: application/json and the Accept
-- an MCP client sends. All requests are formatted in init(), so that the per-request Lua cost is the
-- same for every target; both targets of a run get byte-identical requests apart from PATH.
-- done() is bench/wrk.lua's (loaded from this script's directory): the PEERBENCH_JSON line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk.lua")   -- defines setup/init/request/done; init and request are replaced below
local reqs, n, i = {}, 0, 0

function init(args)
  local bodies = args[1] or error("usage: -- BODIES_FILE TOKEN_FILE PATH")
  local tf = assert(io.open(args[2] or error("no TOKEN_FILE"), "r"))
  local token = tf:read("*l"); tf:close()
  local path = args[3] or "/mcp"
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
  }
  for line in io.lines(bodies) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", path, headers, line)  -- adds Content-Length
    end
  end
  if n == 0 then error("no bodies in " .. bodies) end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
