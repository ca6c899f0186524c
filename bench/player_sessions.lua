-- wrk script: realistic player traffic at the server's max rate. Each session is a sessionStart
-- (its Location read from the 201) then the events of a real 10-minute session
-- (BENCH_EVENTS_FILE: one JSON body per line, from sessionflow.players), i.e. ~60 requests per
-- session, the mix of SPEC §5. Timing is compressed to "as fast as answered": a request goes
-- to the oldest session with events left, else a new session starts.
local events = {}
for line in io.lines(os.getenv("BENCH_EVENTS_FILE")) do events[#events + 1] = line end
local start_body = io.open(os.getenv("BENCH_START_FILE")):read("*a")
local sessions = {}   -- {location, next event index}
local head, tail = 1, 0
local codes = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  while sessions[head] and sessions[head][2] > #events do
    sessions[head] = nil
    head = head + 1
  end
  local session = sessions[head]
  if session == nil then
    wrk.body = start_body
    return wrk.format(nil, "/api/v1/sessions")
  end
  local body = events[session[2]]
  session[2] = session[2] + 1
  if session[2] > #events then
    sessions[head] = nil
    head = head + 1
  end
  wrk.body = body
  return wrk.format(nil, session[1] .. "/events")
end

response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  local location = headers["location"] or headers["Location"]
  if status == 201 and location then
    tail = tail + 1
    sessions[tail] = {location, 1}
  end
end

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
function delay()
  return delay_ms
end
