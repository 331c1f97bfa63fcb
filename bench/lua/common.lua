-- Shared by the wrk scripts: per-thread ids, status counting, and a
-- machine-readable summary line that bench/wrk.py parses.
--
-- Configuration comes from the environment (set by bench/wrk.py):
--   BENCH_KEY     API key (Bearer)
--   BENCH_PREFIX  prefix of every subject external id, unique per scenario run

local M = {}

M.key = os.getenv("BENCH_KEY") or error("BENCH_KEY is not set")
M.prefix = os.getenv("BENCH_PREFIX") or error("BENCH_PREFIX is not set")

local threads = {}
local next_tid = 0

-- Runs in the main Lua state, once per wrk thread.
function M.setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
sent = 0
counts = {}
accepted = 0
created = 0
rejected = 0

function M.count(status)
   local k = tostring(status)
   counts[k] = (counts[k] or 0) + 1
end

local function merge(into, from)
   for k, v in pairs(from or {}) do into[k] = (into[k] or 0) + v end
end

-- Prints one line: BENCH_RESULT {json}
function M.done(summary, latency, requests)
   local statuses, total = {}, {sent = 0, accepted = 0, created = 0, rejected = 0}
   for _, t in ipairs(threads) do
      merge(statuses, t:get("counts"))
      for name, _ in pairs(total) do total[name] = total[name] + (t:get(name) or 0) end
   end
   local parts = {}
   for k, v in pairs(statuses) do table.insert(parts, string.format('"%s":%d', k, v)) end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"sent":%d,' ..
      '"items":{"accepted":%d,"created":%d,"rejected":%d},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":{%s}}\n',
      summary.duration, summary.requests, summary.bytes, total.sent,
      total.accepted, total.created, total.rejected,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      table.concat(parts, ",")))
end

return M
