"""`gsfm serve`: a local web app to draw first masks, propagate them, correct and export.

A thin HTTP layer (FastAPI, the optional `serve` extra) over the project's readers, writers
and `VideoPredictor`; the page is plain HTML/CSS/JS modules under `static/`. Modules:
`sessions` (a session's cache folder and files), `media` (uploads, zips, `--root` paths),
`disk` (room for decoded frames, a full disk), `hosts` (loopback names), `propagate` (the engine
run), `jobs` (one background worker per session), `export` (the zip), `app` (the routes and the
safety checks).
"""
