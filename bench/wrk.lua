-- wrk script for bench/run.ts: replays requests prebuilt in a file, in random order,
-- counts non-2xx answers, checks every Nth 2xx body for a marker, and prints one
-- "BENCH_RESULT {json}" line at the end. <every> 0 turns the per-response hook off.
--   wrk -c64 -d10s -s bench/wrk.lua http://127.0.0.1:PORT -- <file> <api key> <marker> <every>
-- File lines: METHOD \t PATH \t BODY (BODY empty for GET).

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state; globals are read back in done).
local reqs, nreqs = {}, 0
local marker, every = nil, 50
answered, non2xx, checked, bad_body, bad_sample, hooked = 0, 0, 0, 0, "", true

function init(args)
  local file, key = args[1], args[2]
  marker, every = args[3], tonumber(args[4]) or 50
  -- every = 0: no Lua per response (wrk then neither buffers bodies nor calls us);
  -- non-2xx come from wrk's own count of statuses above 399.
  if every == 0 then response = nil end
  hooked = every ~= 0
  math.randomseed(os.time() + 7919 * (thread_no or 0))
  for line in io.lines(file) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      local headers = { ["Lognex-Discount-API-Auth-Token"] = key, ["Accept"] = "application/json" }
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      nreqs = nreqs + 1
      reqs[nreqs] = wrk.format(method, path, headers, body)
    end
  end
  if nreqs == 0 then error("no requests in " .. tostring(file)) end
end

function request()
  return reqs[math.random(nreqs)]
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if bad_sample == "" then bad_sample = status .. " " .. string.sub(body or "", 1, 300) end
  elseif answered % every == 0 then
    checked = checked + 1
    if not string.find(body or "", marker, 1, true) then
      bad_body = bad_body + 1
      if bad_sample == "" then bad_sample = "200 " .. string.sub(body or "", 1, 300) end
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local t = { answered = 0, non2xx = 0, checked = 0, bad_body = 0 }
  local hooked = true
  local sample = ""
  for _, thread in ipairs(threads) do
    for k in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
    if not thread:get("hooked") then hooked = false end
    local s = thread:get("bad_sample")
    if sample == "" and s and s ~= "" then sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"non2xx":%d,"socketErrors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"checked":%d,"badBody":%d,"badSample":%s}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    hooked and t.non2xx or e.status, e.connect, e.read, e.write, e.timeout, t.checked, t.bad_body, json_string(sample)))
end
