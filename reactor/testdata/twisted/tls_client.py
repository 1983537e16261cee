"""A Twisted TLS client for Mustaine's interop tests.

    tls_client.py echo HOST PORT CA.pem      TLS from the start: sends 256 KiB,
                                             checks the echo, closes
    tls_client.py halfclose HOST PORT CA.pem sends 256 KiB and closes at once
                                             (close_notify): the echo must still
                                             arrive in full before the server's
    tls_client.py starttls HOST PORT CA.pem  plain line protocol, STARTTLS, then
                                             transport.startTLS and one line

It prints "ok" and exits 0 when everything matched."""
import sys

from twisted.internet import reactor, protocol, ssl
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.protocols.basic import LineReceiver

mode, host, port, ca_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(ca_path, "rb") as f:
    ca = ssl.Certificate.loadPEM(f.read())
options = ssl.optionsForClientTLS("localhost", trustRoot=ca)
result = []


class Echo(protocol.Protocol):
    def connectionMade(self):
        self.payload = bytes(range(256)) * 1024
        self.got = b""
        self.transport.write(self.payload)
        if mode == "halfclose":
            self.transport.loseConnection()

    def dataReceived(self, data):
        self.got += data
        if len(self.got) >= len(self.payload) and mode == "echo":
            if self.got == self.payload:
                result.append("ok")
            self.transport.loseConnection()

    def connectionLost(self, reason):
        if mode == "halfclose":
            if self.got == self.payload:
                result.append("ok")
            else:
                print("echo: got %d of %d bytes (%s)" % (len(self.got), len(self.payload), reason.getErrorMessage()), file=sys.stderr)
        reactor.stop()


class StartTLS(LineReceiver):
    def connectionMade(self):
        self.sendLine(b"STARTTLS")

    def lineReceived(self, line):
        if line == b"OK":
            self.transport.startTLS(options)
            self.sendLine(b"PING")
        elif line == b"secret PING":
            result.append("ok")
            self.transport.loseConnection()
        else:
            print("unexpected line", line, file=sys.stderr)
            self.transport.loseConnection()

    def connectionLost(self, reason):
        reactor.stop()


class Factory(protocol.Factory):
    def buildProtocol(self, addr):
        return StartTLS() if mode == "starttls" else Echo()


def failed(f):
    print("connect failed:", f.getErrorMessage(), file=sys.stderr)
    reactor.stop()


endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=10)
if mode != "starttls":
    endpoint = wrapClientTLS(options, endpoint)
endpoint.connect(Factory()).addErrback(failed)
reactor.callLater(60, reactor.stop)
reactor.run()
print(result[0] if result else "failed")
sys.exit(0 if result else 1)
