"""A Twisted echo server for Mustaine's interop test: it prints its port,
echoes, and exits after its first connection closes, printing how."""
import sys

from twisted.internet import reactor, protocol


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)

    def connectionLost(self, reason):
        print("lost:", reason.type.__name__, flush=True)
        reactor.callLater(0, reactor.stop)


factory = protocol.ServerFactory()
factory.protocol = Echo
port = reactor.listenTCP(0, factory, interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.callLater(60, reactor.stop)
reactor.run()
