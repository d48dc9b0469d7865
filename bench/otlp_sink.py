"""An OTLP/HTTP endpoint that accepts every export and keeps nothing: what the server's trace
export costs the server, without a collector. Prints the port, then serves until killed.

    python3 bench/otlp_sink.py &   # then OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT
"""
import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Sink.exports += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


Sink.exports = 0
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
