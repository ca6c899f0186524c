-- wrk script: BENCH_VIEWERS concurrent viewers in real time. Each viewer plays real sessions:
-- a sessionStart, then the events of one of the timelines in BENCH_EVENTS_FILES (comma-separated
-- files of "at_ms<TAB>json" lines from sessionflow.players: the startup burst, 10 s pings, 1 s
-- pings in ads, sessionComplete; contents of different lengths), each event sent when its time
-- comes after the 201; at the end the viewer starts a new session on another timeline.
-- Viewers join over BENCH_RAMP_S seconds. wrk's connections are shared: a connection takes the
-- request due first (delay) and sends it when it is due.
-- Run with one wrk thread (-t1): the viewers live in that thread's Lua state.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } sf_timespec;
  int clock_gettime(int clk_id, sf_timespec *tp);
]]
local ts = ffi.new("sf_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local timelines = {} -- {at = {offsets in ms}, bodies = {json}}
for path in os.getenv("BENCH_EVENTS_FILES"):gmatch("[^,]+") do
  local timeline = {at = {}, bodies = {}}
  for line in io.lines(path) do
    local offset, body = line:match("^(%d+)\t(.*)$")
    timeline.at[#timeline.at + 1] = tonumber(offset)
    timeline.bodies[#timeline.bodies + 1] = body
  end
  timelines[#timelines + 1] = timeline
end
math.randomseed(42)
local start_body = io.open(os.getenv("BENCH_START_FILE")):read("*a")
local viewers = tonumber(os.getenv("BENCH_VIEWERS") or "1000")
local ramp_ms = tonumber(os.getenv("BENCH_RAMP_S") or "60") * 1000

-- Min-heaps of tasks by due time; a task is {due, location (nil: start a session), started,
-- index, timeline}. ``waiting``: every viewer's next request; ``reserved``: the ones connections have
-- taken in delay() and send in request() (earliest first: the timer that fires first sends the
-- earliest), so that connections never wake up together for the same task.
local function heap_new() return {n = 0} end
local function push(heap, task)
  heap.n = heap.n + 1
  local i = heap.n
  heap[i] = task
  while i > 1 do
    local parent = math.floor(i / 2)
    if heap[parent][1] <= heap[i][1] then break end
    heap[parent], heap[i] = heap[i], heap[parent]
    i = parent
  end
end
local function pop(heap)
  local top = heap[1]
  heap[1] = heap[heap.n]
  heap[heap.n] = nil
  heap.n = heap.n - 1
  local i, size = 1, heap.n
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= size and heap[l][1] < heap[m][1] then m = l end
    if r <= size and heap[r][1] < heap[m][1] then m = r end
    if m == i then break end
    heap[m], heap[i] = heap[i], heap[m]
    i = m
  end
  return top
end
local waiting, reserved = heap_new(), heap_new()

local t0 = nil
counts = {starts = 0, events = 0, idle = 0, late_ms_max = 0, late_over_1s = 0,
                sessions_done = 0}
codes = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local function setup_viewers()
  t0 = now_ms()
  for v = 1, viewers do
    push(waiting, {t0 + ramp_ms * (v - 1) / viewers, nil, 0, 0})
  end
end

function delay()
  if t0 == nil then setup_viewers() end
  if waiting.n == 0 then return 100 end -- every viewer waits for a 201: request() idles
  local task = pop(waiting)
  push(reserved, task)
  local wait = task[1] - now_ms()
  if wait < 1 then return 0 end
  return math.floor(wait)
end

function request()
  if t0 == nil then setup_viewers() end
  if reserved.n == 0 then
    -- Nothing to send (the first request, or every viewer waits for a 201): a cheap GET,
    -- counted apart.
    counts.idle = counts.idle + 1
    return wrk.format("GET", "/api/v1/schemas/ping", nil, "")
  end
  local now = now_ms()
  local task = pop(reserved)
  local late = now - task[1]
  if late > counts.late_ms_max then counts.late_ms_max = late end
  if late > 1000 then counts.late_over_1s = counts.late_over_1s + 1 end
  if task[2] == nil then
    counts.starts = counts.starts + 1
    return wrk.format("POST", "/api/v1/sessions", nil, start_body)
  end
  counts.events = counts.events + 1
  local index, timeline = task[4], task[5]
  if index < #timeline.bodies then
    push(waiting, {task[3] + timeline.at[index + 1], task[2], task[3], index + 1, timeline})
  else
    counts.sessions_done = counts.sessions_done + 1
    push(waiting, {now, nil, 0, 0}) -- the viewer's next session
  end
  return wrk.format("POST", task[2] .. "/events", nil, timeline.bodies[index])
end

-- A 201 starts the session of whichever viewer is waiting for one (viewers are alike: each
-- session draws its timeline); a refused sessionStart loses its viewer, and shows in the
-- status counts.
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  local location = headers["location"] or headers["Location"]
  if status == 201 and location then
    local started = now_ms()
    local timeline = timelines[math.random(#timelines)]
    push(waiting, {started + timeline.at[1], location, started, 1, timeline})
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

-- In wrk's main Lua state: the figures are read from the thread's state.
done = function(summary, latency, requests)
  local thread = threads[1]
  local c = thread:get("counts")
  local statuses = {}
  for code, n in pairs(thread:get("codes")) do
    statuses[#statuses + 1] = string.format("\"%d\":%d", code, n)
  end
  io.write(string.format(
    "JSON {\"requests\":%d,\"seconds\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f," ..
    "\"errors\":%d,\"non2xx\":%d,\"viewers\":%d,\"starts\":%d,\"events\":%d,\"idle\":%d," ..
    "\"sessions_done\":%d,\"max_late_ms\":%.1f,\"late_over_1s\":%d,\"statuses\":{%s}}\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, viewers, c.starts, c.events, c.idle, c.sessions_done, c.late_ms_max,
    c.late_over_1s, table.concat(statuses, ",")))
end
