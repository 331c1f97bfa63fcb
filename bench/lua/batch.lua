-- wrk script: POST /api/v1/reports/batch, BENCH_BATCH_SIZE reports per
-- request, every report about a new subject.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local size = tonumber(os.getenv("BENCH_BATCH_SIZE") or "500")
local headers = {
   ["Authorization"] = "Bearer " .. common.key,
   ["Content-Type"] = "application/json",
}
local item = '{"subject":{"kind":"account","external_id":"%s","display_name":"Bench account",' ..
   '"url":"https://example.org/u/%s","metadata":{"followers_count":%d}},' ..
   '"policy":"spam","reporter":{"kind":"user","external_id":"%s"},' ..
   '"description":"posts the same link in every thread"}'

setup = common.setup
done = common.done

function request()
   sent = sent + 1
   local items = {}
   for i = 1, size do
      local subject = string.format("%st%d-%d-%d", common.prefix, tid, sent, i)
      items[i] = string.format(item, subject, subject, i, subject)
   end
   local body = '{"reports":[' .. table.concat(items, ",") .. ']}'
   return wrk.format("POST", "/api/v1/reports/batch", headers, body)
end

function response(status, headers, body)
   common.count(status)
   if status == 200 then
      accepted = accepted + tonumber(string.match(body, '"accepted":(%d+)') or "0")
      rejected = rejected + tonumber(string.match(body, '"rejected":(%d+)') or "0")
      local _, opened = string.gsub(body, '"status":201', "")
      created = created + opened
   end
end
