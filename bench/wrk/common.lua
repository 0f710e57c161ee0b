-- Shared helpers for the dronecoop DSS wrk scripts; bench/dss.py drives them.
--
-- Parameters come from environment variables (bench/dss.py sets them):
--   BENCH_TOKEN    bearer token the server trusts
--   BENCH_THREADS  wrk -t (to number requests uniquely across threads)
--   BENCH_SEED     random seed for this run (ids differ between runs)
--   BENCH_T0       Unix time (s) the traffic's time windows are relative to
--   BENCH_*        workload parameters, read by the scripts that use them
--
-- Each thread counts responses by status and keeps one sample body of an unexpected
-- status; done() prints one machine-readable line:
--   BENCH_RESULT {"requests":..,"duration_us":..,"p50_us":..,...,"status":{"201":..}}

local M = {}

function M.env_number(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then error("missing environment variable " .. name) end
    return default
  end
  return tonumber(value)
end

function M.env_string(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then error("missing environment variable " .. name) end
    return default
  end
  return value
end

local HEX = "0123456789abcdef"

local function random_hex(n)
  local out = {}
  for i = 1, n do
    local r = math.random(1, 16)
    out[i] = HEX:sub(r, r)
  end
  return table.concat(out)
end

-- A version-4 UUID, unique per (thread, counter) by construction: the last group carries
-- both; the rest is random (seeded per run and thread).
function M.uuid4(tid, counter)
  local variant = math.random(1, 4)
  return string.format(
    "%s-%s-4%s-%s%s-%04x%08x",
    random_hex(8), random_hex(4), random_hex(3),
    ("89ab"):sub(variant, variant), random_hex(3),
    tid % 65536, counter % 4294967296
  )
end

function M.rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function M.time(t)
  return string.format('{"value":"%s","format":"RFC3339"}', M.rfc3339(t))
end

-- A square outline of side 2*half_m metres centred on (lat, lng).
function M.square(lat, lng, half_m)
  local dlat = half_m / 111320.0
  local dlng = dlat / math.cos(math.rad(lat))
  return string.format(
    '{"vertices":[{"lat":%.7f,"lng":%.7f},{"lat":%.7f,"lng":%.7f},'
      .. '{"lat":%.7f,"lng":%.7f},{"lat":%.7f,"lng":%.7f}]}',
    lat - dlat, lng - dlng, lat - dlat, lng + dlng,
    lat + dlat, lng + dlng, lat + dlat, lng - dlng
  )
end

function M.altitudes(lower, upper)
  return string.format(
    '"altitude_lower":{"value":%g,"reference":"W84","units":"M"},'
      .. '"altitude_upper":{"value":%g,"reference":"W84","units":"M"}',
    lower, upper
  )
end

-- Spot i of a grid: BENCH_<PREFIX>_LAT0/_LNG0/_DLAT/_DLNG/_COLS (row-major).
function M.grid(prefix)
  return {
    lat0 = M.env_number("BENCH_" .. prefix .. "_LAT0"),
    lng0 = M.env_number("BENCH_" .. prefix .. "_LNG0"),
    dlat = M.env_number("BENCH_" .. prefix .. "_DLAT"),
    dlng = M.env_number("BENCH_" .. prefix .. "_DLNG"),
    cols = M.env_number("BENCH_" .. prefix .. "_COLS"),
    size = M.env_number("BENCH_" .. prefix .. "_SIZE"),
  }
end

function M.spot(grid, i)
  i = i % grid.size
  local row = math.floor(i / grid.cols)
  local col = i % grid.cols
  return grid.lat0 + row * grid.dlat, grid.lng0 + col * grid.dlng
end

-- -- wrk hooks ------------------------------------------------------------------------
-- Main state: number the threads and remember them for done().
local threads = {}

function M.setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- Thread state: seed, headers, counters.
function M.init()
  tid = tid or 0
  nthreads = M.env_number("BENCH_THREADS", 1)
  counter = 0
  counts = {}
  sample = ""
  math.randomseed(M.env_number("BENCH_SEED", os.time()) * 1000 + tid * 7919)
  wrk.headers["Authorization"] = "Bearer " .. M.env_string("BENCH_TOKEN", "none")
  wrk.headers["Content-Type"] = "application/json"
end

-- A number unique across this run's threads for each request.
function M.next_index()
  local index = counter * nthreads + tid
  counter = counter + 1
  return index
end

function M.response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
  if sample == "" and status >= 400 and status ~= 409 then
    sample = key .. " " .. (body or ""):sub(1, 400)
  end
end

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

function M.done(summary, latency, requests)
  local status = {}
  local sample_body = ""
  for _, thread in ipairs(threads) do
    local thread_counts = thread:get("counts") or {}
    for code, n in pairs(thread_counts) do
      status[code] = (status[code] or 0) + n
    end
    local s = thread:get("sample")
    if sample_body == "" and s ~= nil and s ~= "" then sample_body = s end
  end
  local parts = {}
  for code, n in pairs(status) do
    table.insert(parts, string.format('"%s":%d', code, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"status":{%s},"sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","), json_string(sample_body)
  ))
end

-- Paced traffic (BENCH_RATE requests/s over all threads): an open-loop schedule, each
-- thread sending at BENCH_RATE / BENCH_THREADS on whichever connection is free. A request
-- whose slot has passed (every connection busy) goes at once, so the achieved rate shows
-- whether the server kept up; latencies then measure service plus queueing at that load,
-- not the queue of a closed loop running flat out.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } dronecoop_timespec;
int clock_gettime(int clock_id, dronecoop_timespec *tp);
]]
local now_ts = ffi.new("dronecoop_timespec")

function M.now()
  ffi.C.clock_gettime(1, now_ts) -- CLOCK_MONOTONIC
  return tonumber(now_ts.tv_sec) + tonumber(now_ts.tv_nsec) * 1e-9
end

function M.delay()
  local now = M.now()
  if next_slot == nil then
    -- Threads start their schedules staggered across one interval.
    next_slot = now + slot_interval * tid / nthreads
  end
  local wait = next_slot - now
  next_slot = math.max(next_slot, now - slot_interval) + slot_interval
  if wait <= 0 then return 0 end
  return wait * 1000
end

-- Install the hooks every script shares.
function M.install()
  setup = M.setup
  response = M.response
  done = M.done
  local rate = M.env_number("BENCH_RATE", 0)
  if rate > 0 then
    slot_interval = M.env_number("BENCH_THREADS", 1) / rate
    delay = M.delay
  end
end

return M
