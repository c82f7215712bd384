-- wrk script for POST /orders: every request a new buyer (its own Idempotency-Key and e-mail).
-- Environment: BENCH_EVENT_ID, BENCH_TICKET_ID, BENCH_QUANTITY (1), BENCH_RUN (a unique tag).
-- done() prints one line "BENCH_JSON {...}" with latency percentiles and status counts.

local event_id = os.getenv("BENCH_EVENT_ID")
local ticket_id = os.getenv("BENCH_TICKET_ID")
local quantity = tonumber(os.getenv("BENCH_QUANTITY") or "1")
local run = os.getenv("BENCH_RUN") or "run"
-- BENCH_DELAY_MS: a pause before each connection's next request, to hold a steady rate below
-- what the system can carry (bench/order_cpu.py); unset, every connection sends at once.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  sent = 0
  statuses = {}
  pending = 0
end

function request()
  sent = sent + 1
  local buyer = string.format("%s-%d-%d", run, tid, sent)
  local body = string.format(
    '{"event_id":"%s","ticket_id":"%s","quantity":%d,"email":"%s@example.com",' ..
    '"phone_number":"+254712345678"}', event_id, ticket_id, quantity, buyer)
  return wrk.format("POST", "/orders",
    {["Content-Type"] = "application/json", ["Idempotency-Key"] = "key-" .. buyer}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 and body:find('"status":"pending"', 1, true) then
    pending = pending + 1
  end
end

function done(summary, latency, requests)
  local counts, total_sent, total_pending, per_thread = {}, 0, 0, {}
  for _, thread in ipairs(threads) do
    local thread_statuses = thread:get("statuses")
    for status, count in pairs(thread_statuses) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + count
    end
    total_sent = total_sent + thread:get("sent")
    total_pending = total_pending + thread:get("pending")
    table.insert(per_thread, string.format('"%d":%d', thread:get("tid"), thread:get("sent")))
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%s":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"sent":%d,"pending_201":%d,' ..
    '"statuses":{%s},"sent_by_thread":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.duration, summary.requests, total_sent, total_pending,
    table.concat(parts, ","), table.concat(per_thread, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
