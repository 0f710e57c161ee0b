-- PUT /dss/v1/operational_intent_references/<fresh uuid4>: create with the key check.
--
-- BENCH_MODE selects the traffic:
--   nonoverlap  every request in its own ~300 m square, spots >= 3.9 km apart on the
--               BENCH_TRAFFIC_* grid (never sharing an S2 level-13 cell), one time window
--   overlap     every request in the same square (BENCH_HOT_LAT/LNG) but in its own time
--               window (disjoint from all others): the key check passes while every
--               request searches and locks the same cells -- the contended path
--   conflict    every request in the same square and the same time window with an empty
--               key: the first one wins (201), the rest collide (409 with the conflict)
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")
bench.install()

local PATH = "/dss/v1/operational_intent_references/"
local HALF_M = 150.0 -- a ~300 m square
local BASE_URL = "https://bench-uss.example/utm"

function init(args)
  bench.init()
  mode = bench.env_string("BENCH_MODE", "nonoverlap")
  if mode ~= "nonoverlap" and mode ~= "overlap" and mode ~= "conflict" then
    error("BENCH_MODE must be nonoverlap, overlap or conflict, not " .. mode)
  end
  t0 = bench.env_number("BENCH_T0", os.time())
  grid = bench.grid("TRAFFIC")
  hot_lat = bench.env_number("BENCH_HOT_LAT")
  hot_lng = bench.env_number("BENCH_HOT_LNG")
  -- Seconds between the starts of successive disjoint windows, and their length.
  slot_s = bench.env_number("BENCH_SLOT_S", 30)
  window_s = bench.env_number("BENCH_WINDOW_S", 20)
  altitudes = bench.altitudes(0, 120)
  tail = string.format(
    '],"key":[],"state":"Accepted","uss_base_url":"%s",'
      .. '"new_subscription":{"uss_base_url":"%s","notify_for_constraints":false}}',
    BASE_URL, BASE_URL
  )
end

function request()
  local index = bench.next_index()
  local lat, lng, start_s, end_s
  if mode == "nonoverlap" then
    lat, lng = bench.spot(grid, index)
    start_s, end_s = t0 + 600, t0 + 600 + 3600
  elseif mode == "overlap" then
    lat, lng = hot_lat, hot_lng
    start_s = t0 + 600 + index * slot_s
    end_s = start_s + window_s
  else
    lat, lng = hot_lat, hot_lng
    start_s, end_s = t0 + 600, t0 + 600 + 3600
  end
  local body = '{"extents":[{"volume":{"outline_polygon":' .. bench.square(lat, lng, HALF_M)
    .. "," .. altitudes .. '},"time_start":' .. bench.time(start_s)
    .. ',"time_end":' .. bench.time(end_s) .. "}" .. tail
  return wrk.format("PUT", PATH .. bench.uuid4(tid, index), nil, body)
end
