package amp_test

// twistedAMP is the Twisted side of the interop tests, written by the test
// into a temporary directory and run with Debian's python3-twisted.
//
//	python3 peer.py server          serves the commands, prints its port
//	python3 peer.py client PORT     calls ours, prints "OK" or what failed
const twistedAMP = `
import sys, random, datetime, decimal, math
from twisted.internet import reactor, protocol, defer, endpoints
from twisted.protocols import amp

class Sum(amp.Command):
    arguments = [(b'a', amp.Integer()), (b'b', amp.Integer())]
    response = [(b'total', amp.Integer())]

class Divide(amp.Command):
    arguments = [(b'numerator', amp.Integer()), (b'denominator', amp.Integer())]
    response = [(b'result', amp.Float())]
    errors = {ZeroDivisionError: b'ZERO_DIVISION'}

ECHO = [(b'i', amp.Integer()), (b's', amp.String()), (b'u', amp.Unicode()),
        (b'fl', amp.Float()), (b'b', amp.Boolean()), (b'd', amp.DateTime()),
        (b'dc', amp.Decimal()), (b'l', amp.ListOf(amp.Integer())),
        (b'lu', amp.ListOf(amp.Unicode())),
        (b'al', amp.AmpList([(b'name', amp.Unicode()), (b'count', amp.Integer())]))]

class Echo(amp.Command):
    arguments = ECHO
    response = ECHO

class Notify(amp.Command):
    arguments = [(b'n', amp.Integer())]
    requiresAnswer = False

class Total(amp.Command):
    arguments = []
    response = [(b'total', amp.Integer())]

class Hang(amp.Command):
    arguments = []
    response = []

class Server(amp.AMP):
    notified = 0
    @Sum.responder
    def sum(self, a, b):
        return {'total': a + b}
    @Divide.responder
    def divide(self, numerator, denominator):
        return {'result': numerator / denominator}
    @Echo.responder
    def echo(self, **kw):
        return kw
    @Notify.responder
    def notify(self, n):
        Server.notified += n
        return {}
    @Total.responder
    def total(self):
        return {'total': Server.notified}
    @Hang.responder
    def hang(self):
        self.transport.loseConnection()
        return defer.Deferred()

def rand_echo(rng):
    tz = datetime.timezone(datetime.timedelta(minutes=rng.randint(-720, 720)))
    return dict(
        i=rng.randint(-2**63, 2**63 - 1),
        s=bytes(rng.randrange(256) for _ in range(rng.randrange(20))),
        u=''.join(rng.choice('aé€😀\x00z') for _ in range(rng.randrange(10))),
        fl=rng.choice([rng.uniform(-1e10, 1e10), rng.random() * 1e-300, 1e16, float('inf'), -float('inf')]),
        b=rng.random() < 0.5,
        d=datetime.datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                            rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                            rng.randint(0, 999999), tz),
        dc=decimal.Decimal('%d.%02d' % (rng.randint(-10**6, 10**6), rng.randint(0, 99))),
        l=[rng.randint(-1000, 1000) for _ in range(rng.randrange(5))],
        lu=[rng.choice(['', 'x', 'ünï']) for _ in range(rng.randrange(4))],
        al=[{'name': rng.choice(['a', 'β']), 'count': rng.randint(0, 99)} for _ in range(rng.randrange(3))])

@defer.inlineCallbacks
def run_client(port):
    ep = endpoints.TCP4ClientEndpoint(reactor, '127.0.0.1', port)
    p = yield endpoints.connectProtocol(ep, amp.AMP())
    rng = random.Random(7)
    failures = []
    sem = defer.DeferredSemaphore(64)
    counts = {'zero': 0}
    def one(i):
        kind = i % 3
        if kind == 0:
            a, b = rng.randint(-2**40, 2**40), rng.randint(-2**40, 2**40)
            d = p.callRemote(Sum, a=a, b=b)
            def ok(r):
                if r['total'] != a + b: failures.append(('Sum', a, b, r))
            return d.addCallback(ok)
        if kind == 1:
            n, m = rng.randint(-10**6, 10**6), rng.choice([0, rng.randint(1, 1000)])
            d = p.callRemote(Divide, numerator=n, denominator=m)
            def ok(r):
                if m == 0 or r['result'] != n / m: failures.append(('Divide', n, m, r))
            def err(f):
                if m != 0 or not f.check(ZeroDivisionError):
                    failures.append(('Divide error', n, m, str(f.value)))
                else:
                    counts['zero'] += 1
            return d.addCallbacks(ok, err)
        args = rand_echo(rng)
        d = p.callRemote(Echo, **args)
        def ok(r):
            for k, v in args.items():
                if r[k] != v: failures.append(('Echo', k, v, r[k]))
        return d.addCallback(ok)
    ds = [sem.run(one, i) for i in range(10000)]
    yield defer.DeferredList(ds, consumeErrors=True)
    for d in ds:
        d.addErrback(lambda f: failures.append(('call failed', str(f.value))))
    for n in range(1, 11):
        p.callRemote(Notify, n=n)
    r = yield p.callRemote(Total)
    if r['total'] != 55:
        failures.append(('Total', r))
    if counts['zero'] == 0:
        failures.append('no ZeroDivisionError seen')
    print('FAILED %r' % (failures[:10],) if failures else 'OK', flush=True)
    p.transport.loseConnection()

def main():
    if sys.argv[1] == 'server':
        f = protocol.Factory.forProtocol(Server)
        port = reactor.listenTCP(0, f, interface='127.0.0.1')
        print(port.getHost().port, flush=True)
        reactor.run()
    else:
        d = run_client(int(sys.argv[2]))
        def done(r):
            reactor.stop()
        def failed(f):
            print('FAILED %s' % f.getTraceback(), flush=True)
            reactor.stop()
        d.addCallbacks(done, failed)
        reactor.run()

main()
`
