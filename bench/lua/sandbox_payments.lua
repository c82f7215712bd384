-- wrk script for the payment sandbox's POST /sandbox/payments: every request a new order, with
-- the body the payments service's adapter sends (aiohttp's json=, so json.dumps' spacing).
-- Environment: BENCH_RUN (a unique tag, so that no two runs share an order id).
-- done() prints one line "BENCH_JSON {...}" with latency percentiles and status counts.

local run = os.getenv("BENCH_RUN") or "run"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"order_id": "%s-%d-%d", "amount": "50.00", "currency": "KES", ' ..
    '"description": "2 ticket(s), Nairobi Jazz Night", "email": "buyer-%d-%d@example.com"}',
    run, tid, sent, tid, sent)
  return wrk.format("POST", "/sandbox/payments", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, total_sent = {}, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + count
    end
    total_sent = total_sent + thread:get("sent")
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%s":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"sent":%d,"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.duration, summary.requests, total_sent, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
