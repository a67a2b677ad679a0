-- wrk script for the single-heartbeat benchmark.
-- Arguments after "--": <mode: heartbeat|bare> <api key> <sessions> <id prefix> <digits>
-- <threads>; session n has the id <prefix><n padded with zeros to <digits> digits>.
-- Each request is a POST with body {"at": "<now, UTC>"}; heartbeats go round-robin over the
-- pre-created sessions, every wrk thread on its own residue class of them.

local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  n_sessions = tonumber(args[3])
  prefix = args[4]
  counter = offset or 0
  id_format = "/v1/sessions/%s%0" .. args[5] .. "d/heartbeat"
  stride = tonumber(args[6]) or 1
  headers = {
    ["Authorization"] = "Bearer " .. args[2],
    ["Content-Type"] = "application/json",
  }
end

function request()
  local body = '{"at":"' .. os.date("!%Y-%m-%dT%H:%M:%S+00:00") .. '"}'
  local path = "/bench/bare"
  if mode == "heartbeat" then
    path = string.format(id_format, prefix, counter % n_sessions)
  end
  counter = counter + stride
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
