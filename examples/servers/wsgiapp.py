"""A WSGI application with a CPU-bound request, for gunicorn's sync workers
(tests/python/test_servers.py): app -> render -> compute."""


def compute(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def render(n):
    return ("%d\n" % compute(n)).encode()


def app(environ, start_response):
    body = render(20000)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
