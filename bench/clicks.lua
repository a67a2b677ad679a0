-- wrk script for the clicks benchmark: GET <path> on every request, as a browser's click.
-- Arguments after "--": <path> (e.g. /t/lt_… or /bench/bare-click/lt_…).
-- wrk keeps no cookies, so each request is a new click, never a reload of an earlier one.
-- Every thread counts its 302 answers; done() prints them with wrk's own summary.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  redirects = 0
  headers = {
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 " ..
      "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["Accept"] = "text/html",
  }
end

function request()
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  if status == 302 then
    redirects = redirects + 1
  end
end

function done(summary, latency, requests)
  local found = 0
  for _, thread in ipairs(threads) do
    found = found + thread:get("redirects")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"redirects": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    found))
end
