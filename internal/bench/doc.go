// Package bench measures the portal against the XMPP server it fronts and
// drives the load of the resilience tests.
//
// It holds the pieces both use: a closed-loop load generator (Run), a
// sign-up client that walks the real HTTP flow and answers the captcha from
// the store the caller owns (Signup), a ledger of what the portal reported
// for every attempted account and its check against the server (Ledger,
// Ledger.Verify), process figures from /proc (ReadProc, Sampler), the machine
// description (DescribeMachine), a wrapper for the wrk load tool (RunWrk), the
// portal binary as a separate process (StartPortal), Prosody's own web
// registration page as a baseline (StartProsodyWeb), and the export
// benchmark's pieces: message archives filled in Prosody's SQLite store
// (SendTemplate, CloneArchive), raw MAM paging as the baseline (RawMAM) and
// an export read whole over HTTP (ExportHTTP, CheckExport).
//
// The benchmark itself (make bench, scripts/bench.sh) is TestBenchmarks in
// this package; it runs only when PORTAL_BENCH_OUT names the report file
// (docs/benchmarks.md).
package bench
