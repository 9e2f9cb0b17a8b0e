"""moto in server mode, with DynamoDB requests serialized.

DynamoDB applies conditional writes to an item one at a time; that is what
the lock in package state relies on. moto's own server (moto_server) runs
every request in its own thread without locking its DynamoDB model, so two
concurrent conditional UpdateItem calls can both pass their condition: seen
here as two lock holders with the same fencing token when 20 ticks raced.
This server is moto's WSGI application behind werkzeug, as moto_server
runs it, with one lock around DynamoDB requests (recognised by their
X-Amz-Target header), so the emulator keeps DynamoDB's guarantee. Other
services stay concurrent (an SQS long poll must not block the rest).

Usage: python moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

_dynamodb = threading.Lock()


def serialize_dynamodb(app):
    def wsgi(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _dynamodb:
                # Consume the whole response inside the lock.
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wsgi


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: moto_server.py HOST PORT")
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        serialize_dynamodb(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
