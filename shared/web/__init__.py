"""The HTTP face, above every use case (nothing below imports from here).

* ``endpoints``: the route table (handler, error style, preflight); renders any core error, logs each request
* ``handlers``: one function per route: parse, call one use case, render the success
* ``record``: the per-request log record a handler fills in (biller, CORS origin for refusals, reason)
* ``responses``: the one place core errors and results become HTTP (OAuth, problem+json, HTML)
* ``forms``: request bodies (form-urlencoded or JSON), size-capped, each field once
* ``cors``: the CORS grant, decided per biller domain or payer origin
* ``cookies``: the session cookie policy (``__Host-``, Partitioned)
* ``edge``: what API Management (or the local edge) does in front of the Functions host
"""
