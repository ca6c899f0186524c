-- wrk script: POST a valid sessionStart (player time = now) to /api/v1/sessions.
-- BENCH_DELAY_MS (env) paces each connection, for the fixed-rate latency run.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local template = '{"eventType":"sessionStart","playerTime":{"playhead":0,"ts":%d},' ..
  '"params":{"analytics.trackingServer":"bench.example.net","analytics.reportSuite":"bench-app",' ..
  '"visitor.marketingCloudOrgId":"BENCH@AdobeOrg","media.id":"video-1","media.playerName":"wrk",' ..
  '"media.channel":"bench","media.contentType":"VOD","media.length":1800.5,' ..
  '"analytics.visitorId":"v1","media.name":"Bench video"}}'
request = function()
  wrk.body = string.format(template, os.time() * 1000)
  return wrk.format(nil, "/api/v1/sessions")
end
function delay()
  return delay_ms
end
local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
