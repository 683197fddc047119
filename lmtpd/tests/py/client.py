"""LMTP client scenarios against a running lmtpd, with Python's smtplib.LMTP.

Usage: client.py SCENARIO HOST PORT DROPDIR
Exits non-zero (AssertionError with a message) when lmtpd answers differently from what a
client expects. DROPDIR is the file-drop root, to check what was delivered.
"""
import glob
import os
import smtplib
import socket
import sys

scenario, host, port, drop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def lmtp():
    s = smtplib.LMTP(host, port, timeout=60)
    code, _ = s.ehlo("client.test")
    assert code == 250, code
    return s


def delivered(addr):
    files = sorted(glob.glob(os.path.join(drop, addr, "new", "*.eml")))
    return [open(f, "rb").read() for f in files]


def expect(reply, code, enhanced):
    assert reply[0] == code and reply[1].decode("utf-8", "replace").startswith(enhanced), (reply, code, enhanced)


def raw(data, nreplies, expect_close=False):
    """Send bytes in one write, read `nreplies` complete replies (multi-line aware)."""
    c = socket.create_connection((host, port), timeout=60)
    f = c.makefile("rb")
    greeting = f.readline()
    assert greeting.startswith(b"220 "), greeting
    c.sendall(data)
    replies = []
    while len(replies) < nreplies:
        line = f.readline()
        if not line:
            break
        if line[3:4] == b"-":
            continue
        replies.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))
    c.close()
    return replies


MSG = b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: hello\r\nMessage-ID: <%s@test>\r\n\r\nbody line\r\n.leading dot\r\n..two dots\r\n"

if scenario == "multi":
    s = lmtp()
    for ext in ["pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8", "chunking"]:
        assert s.has_extn(ext), ext
    assert not s.has_extn("starttls")
    expect(s.mail("sender@example.org"), 250, "2.1.0")
    expect(s.rcpt("alice@example.org"), 250, "2.1.5")
    expect(s.rcpt("bob@example.org"), 250, "2.1.5")
    expect(s.rcpt("nobody@example.org"), 550, "5.1.1")
    expect(s.rcpt("disabled@example.org"), 550, "5.2.1")
    expect(s.rcpt("full@example.org"), 452, "4.2.2")
    expect(s.rcpt("flaky@example.org"), 250, "2.1.5")
    expect(s.rcpt("Alice+news@Example.org"), 250, "2.1.5")
    # RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
    first = s.data(MSG % b"multi")
    rest = [s.getreply() for _ in range(3)]
    expect(first, 250, "2.1.5")
    expect(rest[0], 250, "2.1.5")
    expect(rest[1], 451, "4.3.0")
    expect(rest[2], 250, "2.1.5")
    expect(s.verify("alice@example.org"), 252, "2.5.0")
    expect(s.docmd("EXPN", "list"), 502, "5.5.1")
    expect(s.docmd("BOGUS"), 500, "5.5.1")
    expect(s.noop(), 250, "2.0.0")
    s.quit()
    # alice and Alice+news are one mailbox: one copy (deduplicated by spool id).
    a = delivered("alice@example.org")
    assert len(a) == 1, len(a)
    assert b"\r\nbody line\r\n.leading dot\r\n..two dots\r\n" in a[0]  # dot-unstuffed once
    assert a[0].startswith(b"Return-Path: <sender@example.org>\r\nDelivered-To: alice@example.org\r\nReceived: from client.test ([127.0.0.1])\r\n\tby "), a[0][:200]
    assert len(delivered("bob@example.org")) == 1
    assert delivered("flaky@example.org") == []

elif scenario == "big":
    line = b"0123456789" * 7 + b"abcdef\r\n"  # 78 octets
    body = line * (30 * 1024 * 1024 // len(line)) + b".\r\n..\r\nend\r\n"
    msg = b"From: a@example.org\r\nSubject: big\r\n\r\n" + body
    s = lmtp()
    refused = s.sendmail("a@example.org", ["alice@example.org"], msg, mail_options=["SIZE=%d" % len(msg)])
    assert refused == {}, refused
    s.quit()
    a = delivered("alice@example.org")
    assert len(a) == 1
    assert a[0].endswith(msg), (len(a[0]), len(msg))

elif scenario == "utf8":
    s = lmtp()
    # Without SMTPUTF8 a non-ASCII address is refused.
    expect(s.mail("a@example.org"), 250, "2.1.0")
    s.send("RCPT TO:<jörg@example.org>\r\n".encode())
    expect(s.getreply(), 553, "5.6.7")
    s.rset()
    msg = "From: Jörg <jörg@example.org>\r\nTo: jörg@example.org\r\nSubject: Grüße aus Köln ☃\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nÄpfel und Bäume\r\n".encode()
    refused = s.sendmail("jörg@example.org", ["jörg@example.org"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert refused == {}, refused
    # 8-bit body with a Latin-1 byte, no SMTPUTF8.
    msg2 = b"From: a@example.org\r\nSubject: latin1\r\n\r\ncaf\xe9\r\n"
    assert s.sendmail("a@example.org", ["alice@example.org"], msg2, mail_options=["BODY=8BITMIME"]) == {}
    s.quit()
    j = delivered("jörg@example.org")
    assert len(j) == 1 and j[0].endswith(msg), j
    assert b"with UTF8LMTP" in j[0]
    assert delivered("alice@example.org")[0].endswith(msg2)

elif scenario == "broken":
    msg = b"Content-Type: multipart/mixed; boundary=\"zzz\"\r\nSubject: =?utf-8?B?broken\r\nBad header without colon\r\n\r\n--zzz\r\nContent-Type: text/plain\r\n\r\nno closing boundary\r\n\x00\x01binary\r\n"
    s = lmtp()
    assert s.sendmail("", ["alice@example.org"], msg) == {}
    s.quit()
    assert delivered("alice@example.org")[0].endswith(msg)

elif scenario == "pipelining":
    m1 = MSG % b"p1"
    m2 = MSG % b"p2"
    data = (b"LHLO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.org>\r\n"
            b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" + m1 + b".\r\n"
            b"MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" + m2 + b".\r\nQUIT\r\n")
    r = raw(data, 13)
    codes = [x[:9] for x in r]
    assert codes == ["250 HELP", "250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", "354 2.0.0",
                     "250 2.1.5", "250 2.1.5", "250 2.1.0", "250 2.1.5", "354 2.0.0", "250 2.1.5",
                     "221 2.0.0"], r
    assert len(delivered("bob@example.org")) == 2
    assert len(delivered("alice@example.org")) == 1

elif scenario == "size":
    # mail_max_length is 64K in this daemon.
    s = lmtp()
    assert s.has_extn("size") and s.esmtp_features["size"] == "65536", s.esmtp_features
    expect(s.mail("a@example.org", ["SIZE=100000"]), 552, "5.3.4")
    expect(s.mail("a@example.org", ["SIZE=1000"]), 250, "2.1.0")  # the estimate was low
    expect(s.rcpt("alice@example.org"), 250, "2.1.5")
    expect(s.rcpt("bob@example.org"), 250, "2.1.5")
    big = b"Subject: x\r\n\r\n" + b"y" * 70 + b"\r\n" * 1
    big = b"Subject: x\r\n\r\n" + (b"y" * 70 + b"\r\n") * 2000
    first = s.data(big)
    expect(first, 552, "5.3.4")
    expect(s.getreply(), 552, "5.3.4")
    # The session goes on.
    assert s.sendmail("a@example.org", ["alice@example.org"], b"Subject: small\r\n\r\nok\r\n") == {}
    s.quit()
    assert len(delivered("alice@example.org")) == 1

elif scenario == "linelength":
    s = lmtp()
    expect(s.docmd("NOOP", "x" * 600), 500, "5.5.2")
    expect(s.mail("a@example.org"), 250, "2.1.0")
    expect(s.rcpt("alice@example.org"), 250, "2.1.5")
    first = s.data(b"Subject: long\r\n\r\n" + b"z" * 1200 + b"\r\nend\r\n")
    expect(first, 500, "5.5.2")
    assert s.sendmail("a@example.org", ["alice@example.org"], b"Subject: ok\r\n\r\n" + b"z" * 990 + b"\r\n") == {}
    s.quit()
    assert len(delivered("alice@example.org")) == 1

elif scenario == "bdat":
    part1 = b"Subject: chunked\r\n\r\nfirst part\r\n.not stuffed\r\n"
    part2 = b"second part\r\n"
    data = (b"LHLO client.test\r\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<alice@example.org>\r\n"
            b"RCPT TO:<bob@example.org>\r\n"
            + b"BDAT %d\r\n" % len(part1) + part1
            + b"BDAT %d LAST\r\n" % len(part2) + part2
            + b"BDAT 5 LAST\r\nhello"  # no transaction: read and refused
            + b"QUIT\r\n")
    r = raw(data, 9)
    codes = [x[:9] for x in r]
    assert codes == ["250 HELP", "250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.0.0", "250 2.1.5",
                     "250 2.1.5", "503 5.5.1", "221 2.0.0"], r
    for who in ["alice@example.org", "bob@example.org"]:
        d = delivered(who)
        assert len(d) == 1 and d[0].endswith(part1 + part2), d

elif scenario == "starttls":
    import ssl
    s = lmtp()
    assert s.has_extn("starttls"), s.esmtp_features
    # lda_force_starttls: no mail before TLS.
    expect(s.mail("a@example.org"), 530, "5.7.0")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    code, _ = s.starttls(context=ctx)
    assert code == 220, code
    s.ehlo("client.test")
    assert not s.has_extn("starttls")
    assert s.sendmail("a@example.org", ["alice@example.org"], MSG % b"tls") == {}
    s.quit()
    a = delivered("alice@example.org")
    assert len(a) == 1 and b" with LMTPS id " in a[0], a

elif scenario == "timeout":
    import time
    c = socket.create_connection((host, port), timeout=30)
    f = c.makefile("rb")
    assert f.readline().startswith(b"220 ")
    t0 = time.time()
    line = f.readline()
    assert line.startswith(b"421 4.4.2 "), line
    assert f.readline() == b""  # closed
    assert time.time() - t0 < 20

else:
    raise SystemExit("unknown scenario " + scenario)
print("ok", scenario)
