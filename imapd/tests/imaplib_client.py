"""Drive imapd with Python's stdlib imaplib; print what a client sees, one fact per line.

Usage: imaplib_client.py PORT MODE   (MODE: plain | starttls)
"""
import imaplib
import ssl
import sys

port = int(sys.argv[1])
mode = sys.argv[2]


def out(*a):
    print(*a, flush=True)


if mode == "ssl":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
    out("caps-ssl", " ".join(sorted(m.capabilities)))
    typ, _ = m.login("bob", "secret")
    out("login", typ)
    typ, data = m.select("INBOX", readonly=True)
    out("examine", typ, data[0].decode())
    typ, data = m.fetch("2", "(BODY.PEEK[1])")
    out("part1", data[0][1].decode().splitlines()[0])
    m.logout()
    sys.exit(0)

m = imaplib.IMAP4("127.0.0.1", port)
out("caps-before", " ".join(sorted(m.capabilities)))
if mode == "starttls":
    try:
        m.login("bob", "secret")
        out("login-plaintext", "accepted")
    except imaplib.IMAP4.error as e:
        out("login-plaintext", "refused", str(e))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    typ, _ = m.starttls(ssl_context=ctx)
    out("starttls", typ)
    out("caps-tls", " ".join(sorted(m.capabilities)))
    typ, _ = m.login("bob", "secret")
    out("login", typ)
    m.logout()
    sys.exit(0)

try:
    m.login("bob", "wrong")
except imaplib.IMAP4.error as e:
    out("bad-login", str(e))
typ, data = m.authenticate("PLAIN", lambda _: b"\0bob\0secret")
out("auth", typ)

typ, data = m.list()
out("list", typ, len(data), "|".join(sorted(d.decode() for d in data)))
typ, data = m.create("Entwürfe".encode("utf-7").decode().replace("+", "&"))
out("create", typ)
typ, data = m.select("INBOX")
out("select", typ, data[0].decode())
typ, data = m.fetch("1:*", "(UID FLAGS RFC822.SIZE)")
out("fetch", typ, " ".join(d.decode() for d in data))
typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
out("fetch-header", data[0][1].decode().strip())
typ, data = m.fetch("1", "(RFC822)")
out("fetch-rfc822-len", len(data[0][1]), data[0][1].splitlines()[0].decode())
typ, data = m.fetch("2", "(ENVELOPE)")
out("envelope", data[0].decode())
typ, data = m.search(None, "UNSEEN")
out("search-unseen", data[0].decode())
typ, data = m.uid("SEARCH", "SUBJECT", "multipart")
out("uid-search", data[0].decode())
typ, data = m.store("2", "+FLAGS", "(\\Flagged)")
out("store", typ, data[0].decode())
typ, data = m.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(0), b"Subject: appended\r\n\r\nbody\r\n")
out("append", typ, data[0].decode())
typ, data = m.copy("1", "Trash")
out("copy", typ, data[0].decode())
typ, data = m.uid("MOVE", "1", "Junk")
out("move", typ, m.response("EXPUNGE")[1])
typ, data = m.status("Junk", "(MESSAGES UIDNEXT)")
out("status", typ, data[0].decode())
typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
typ, data = m.expunge()
out("expunge", typ, data)
typ, data = m.search(None, "ALL")
out("search-all", data[0].decode())
typ, data = m.close()
out("close", typ)
typ, data = m.logout()
out("logout", typ)
