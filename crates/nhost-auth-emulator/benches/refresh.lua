-- wrk script: refresh-token rotation against a running nhost-auth-emulator, each token sent once.
--
--   wrk -t2 -c64 -d10s --latency -s crates/nhost-auth-emulator/benches/refresh.lua http://127.0.0.1:4000
--
-- Every wrk thread keeps a pool of refresh tokens. A request takes a token out of the pool and
-- sends `POST /token` with it; its response puts the rotated token back. With an empty pool
-- (at the start: one per connection, or after a failed rotation) the request is an anonymous
-- sign-in instead, whose session token joins the pool: so the script seeds its own chains, one
-- per connection, and a broken chain is replaced rather than stopping a connection.
--
-- wrk's totals count those sign-ins too (as many as connections, plus one per failure); the
-- `done` summary prints how many there were, so they can be told apart.

local pool = {}
-- Globals, so that `done` can read them from each thread (`thread:get`).
signins = 0
refreshes = 0
failures = 0

local json = { ["Content-Type"] = "application/json" }

function request()
   local token = table.remove(pool)
   if token == nil then
      signins = signins + 1
      return wrk.format("POST", "/signin/anonymous", json, "{}")
   end
   refreshes = refreshes + 1
   return wrk.format("POST", "/token", json, '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
   local token = body:match('"refreshToken":"([%x%-]+)"')
   if status == 200 and token ~= nil then
      table.insert(pool, token)
   else
      failures = failures + 1
   end
end

-- Each thread's counters, gathered by `done` (which runs in the main Lua state).
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local s, r, f = 0, 0, 0
   for _, t in ipairs(threads) do
      s = s + t:get("signins")
      r = r + t:get("refreshes")
      f = f + t:get("failures")
   end
   io.write(string.format("script: %d refreshes sent, %d sign-ins (seeding), %d failed responses\n", r, s, f))
end
