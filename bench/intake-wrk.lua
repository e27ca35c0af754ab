-- wrk script for bench/intake.ts: POSTs completed sales built from templates (one JSON
-- body a line, "@ID@" where the document's id goes), each with an id of its own, counts
-- 201 answers and the rest, keeps the document ids the 201s returned (written at the end
-- to the file named by BENCH_IDS_FILE, so the run can check every answered sale was
-- stored), and prints one "BENCH_RESULT {json}" line.
--   BENCH_IDS_FILE=ids.txt wrk -t2 -c64 -d10s -s bench/intake-wrk.lua http://127.0.0.1:PORT -- <templates> <api key> <run tag: 8 hex>
-- Ids: <run tag>-<thread, 4 hex>-4000-8000-<counter, 12 hex> (unique per run and thread).

local PATH = "/rest/integration/moysklad/v1/retaildemand"
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
  table.insert(threads, thread)
end

local templates, ntemplates = {}, 0
local headers
local idfmt
local counter = 0
-- Read back by done() through thread:get, so global.
created, other, sample, ids = 0, 0, "", {}

function init(args)
  local file, key, tag = args[1], args[2], args[3]
  headers = { ["Lognex-Discount-API-Auth-Token"] = key, ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  idfmt = tag .. "-" .. string.format("%04x", thread_no or 0) .. "-4000-8000-%012x"
  math.randomseed(os.time() + 7919 * (thread_no or 0))
  for line in io.lines(file) do
    if line ~= "" then
      local parts, n, from = {}, 0, 1
      while true do
        local s, e = string.find(line, "@ID@", from, true)
        n = n + 1
        if not s then parts[n] = string.sub(line, from); break end
        parts[n] = string.sub(line, from, s - 1)
        from = e + 1
      end
      ntemplates = ntemplates + 1
      templates[ntemplates] = parts
    end
  end
  if ntemplates == 0 then error("no templates in " .. tostring(file)) end
end

function request()
  counter = counter + 1
  local id = string.format(idfmt, counter)
  local parts = templates[math.random(ntemplates)]
  return wrk.format("POST", PATH, headers, table.concat(parts, id))
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    ids[created] = string.match(body or "", '"id":"([^"]+)"') or "?"
  else
    other = other + 1
    if sample == "" then sample = status .. " " .. string.sub(body or "", 1, 300) end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local ids_file = nil
  local total_created, total_other, first_sample = 0, 0, ""
  local out = nil
  for _, thread in ipairs(threads) do
    total_created = total_created + (thread:get("created") or 0)
    total_other = total_other + (thread:get("other") or 0)
    local s = thread:get("sample")
    if first_sample == "" and s and s ~= "" then first_sample = s end
  end
  -- wrk passes the script's arguments to init() only: the ids file comes from the environment.
  ids_file = os.getenv("BENCH_IDS_FILE")
  if ids_file then
    out = assert(io.open(ids_file, "w"))
    for _, thread in ipairs(threads) do
      local t = thread:get("ids") or {}
      for i = 1, #t do out:write(t[i], "\n") end
    end
    out:close()
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"created":%d,"other":%d,"statusErrors":%d,"socketErrors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"sample":%s}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    total_created, total_other, e.status, e.connect, e.read, e.write, e.timeout, json_string(first_sample)))
end
