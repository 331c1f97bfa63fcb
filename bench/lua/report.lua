-- wrk script: POST /api/v1/reports, one report per request.
--   BENCH_MODE=new  every report is about a new subject
--   BENCH_MODE=hot  every report is about one of BENCH_HOT_SUBJECTS subjects
-- Each report has its own reporter, so a hot case counts a new reporter each time.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local mode = os.getenv("BENCH_MODE") or "new"
local hot = tonumber(os.getenv("BENCH_HOT_SUBJECTS") or "10")
local headers = {
   ["Authorization"] = "Bearer " .. common.key,
   ["Content-Type"] = "application/json",
}
local template = '{"subject":{"kind":"account","external_id":"%s","display_name":"Bench account",' ..
   '"url":"https://example.org/u/%s","metadata":{"followers_count":%d}},' ..
   '"policy":"spam","reporter":{"kind":"user","external_id":"%s"},' ..
   '"description":"posts the same link in every thread"}'

setup = common.setup
done = common.done

function request()
   sent = sent + 1
   local reporter = string.format("%st%d-r%d", common.prefix, tid, sent)
   local subject
   if mode == "hot" then
      subject = string.format("%shot%d", common.prefix, (sent + tid) % hot)
   else
      subject = string.format("%st%d-%d", common.prefix, tid, sent)
   end
   local body = string.format(template, subject, subject, sent % 5000, reporter)
   return wrk.format("POST", "/api/v1/reports", headers, body)
end

function response(status, headers, body)
   common.count(status)
end
