-- wrk script: anonymous sign-ins against a running nhost-auth-emulator.
--
--   wrk -t2 -c64 -d10s --latency -s crates/nhost-auth-emulator/benches/signin.lua http://127.0.0.1:4000

wrk.method = "POST"
wrk.path = "/signin/anonymous"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{}"
