# Twisted's AMP client calling examples/amp: python3 twisted_calc.py [ENDPOINT]
import sys
from twisted.internet import defer, endpoints, task
from twisted.protocols import amp

class Sum(amp.Command):
    arguments = [(b"a", amp.Integer()), (b"b", amp.Integer())]
    response = [(b"total", amp.Integer())]

class Divide(amp.Command):
    arguments = [(b"numerator", amp.Integer()), (b"denominator", amp.Integer())]
    response = [(b"result", amp.Float())]
    errors = {ZeroDivisionError: b"ZERO_DIVISION"}

async def calculate(reactor, where="tcp:127.0.0.1:7200"):
    calc = await endpoints.connectProtocol(endpoints.clientFromString(reactor, where), amp.AMP())
    print("Sum(13, 81) =", (await calc.callRemote(Sum, a=13, b=81))["total"])
    print("Divide(1234, 10) =", (await calc.callRemote(Divide, numerator=1234, denominator=10))["result"])

task.react(lambda reactor, argv: defer.ensureDeferred(calculate(reactor, *argv)), [sys.argv[1:]])
