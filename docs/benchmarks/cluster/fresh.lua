-- wrk script: every request a new path under a prefix, never asked before
-- (a wave of distinct cold misses). Threads and connections never collide.
--   wrk -t1 -c32 -d8s -s fresh.lua http://127.0.0.1:PORT -- /gen/wave/
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  prefix = args[1] or "/gen/fresh/"
  n = 0
end

function request()
  n = n + 1
  return wrk.format(nil, prefix .. (id or 0) .. "-" .. n .. ".js")
end
