"""The web dashboard: a page on the daemon's HTTP listener (issue 16, decision 0046).

Loaded at the first request for it (``daemon.parts.views.HttpPages``), never
by an idle daemon. ``site`` serves the static page and its assets (plain
HTML, one CSS file, ES modules; no build step); ``live`` makes the two event
streams the page reads. Every datum comes from the JSON-RPC methods, called
with the role of the request's token, so the dashboard can see and do
exactly what that token can over ``POST /rpc``.
"""
