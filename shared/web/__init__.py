"""The HTTP face, above every use case (nothing below imports from here).

* ``endpoints``: the route table and one handler per route; maps any core error to its answer
* ``responses``: the one place core errors and results become HTTP (OAuth, problem+json, HTML)
* ``forms``: request bodies (form-urlencoded or JSON), size-capped, each field once
* ``cors``: the CORS grant, decided per biller domain or payer origin
* ``cookies``: the session cookie policy (``__Host-``, Partitioned)
* ``edge``: what API Management (or the local edge) does in front of the Functions host
"""
