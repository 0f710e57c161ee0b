-- GET /healthz: the framework's ceiling on the same server (no auth, no database).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")
bench.install()

function init(args)
  bench.init()
  wrk.headers["Authorization"] = nil
  wrk.headers["Content-Type"] = nil
  wrk.method = "GET"
  wrk.path = "/healthz"
end
