-- POST /dss/v1/operational_intent_references/query: a 1 km circle (500 m radius) centred
-- on a random preloaded intent (spot i < BENCH_PRELOAD_N of the BENCH_PRELOAD_* grid),
-- over the next 24 hours, 0-120 m W84: each query finds the intent there.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")
bench.install()

function init(args)
  bench.init()
  grid = bench.grid("PRELOAD")
  preloaded = math.max(1, bench.env_number("BENCH_PRELOAD_N", 1))
  local t0 = bench.env_number("BENCH_T0", os.time())
  -- The window is fixed per run: the string is built once.
  times = '"time_start":' .. bench.time(t0) .. ',"time_end":' .. bench.time(t0 + 86400)
  altitudes = bench.altitudes(0, 120)
  wrk.method = "POST"
  wrk.path = "/dss/v1/operational_intent_references/query"
end

function request()
  bench.next_index()
  local lat, lng = bench.spot(grid, math.random(0, preloaded - 1))
  local body = string.format(
    '{"area_of_interest":{"volume":{"outline_circle":{"center":{"lat":%.7f,"lng":%.7f},'
      .. '"radius":{"value":500,"units":"M"}},%s},%s}}',
    lat, lng, altitudes, times
  )
  return wrk.format(nil, nil, nil, body)
end
