-- wrk script: request every path of a list file (one URL path a line) in
-- turn, forever. Headers given with -H apply. Threads start at different
-- offsets of the list so they don't walk it in lockstep.
--   wrk -t2 -c64 -d10s -s cycle.lua http://127.0.0.1:PORT -- PATHS_FILE
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local file = args[1] or error("usage: wrk ... -s cycle.lua URL -- PATHS_FILE")
  reqs = {}
  for line in io.lines(file) do
    if line ~= "" then reqs[#reqs + 1] = wrk.format(nil, line) end
  end
  if #reqs == 0 then error("no paths in " .. file) end
  i = ((id or 0) * 97) % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
