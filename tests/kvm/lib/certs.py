"""x509 credentials for TLS tests, made with GnuTLS's certtool in the
test's temporary directory, in QEMU's tls-creds-x509 layout (ca-cert.pem,
server-cert.pem, server-key.pem, client-cert.pem, client-key.pem)."""

import os
import shutil
import subprocess


def _certtool(*args):
    subprocess.run(["certtool"] + list(args), check=True,
                   capture_output=True)


def _template(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def make_ca(d, cn):
    os.makedirs(d, exist_ok=True)
    key, cert, tmpl = (os.path.join(d, n) for n in
                       ("ca-key.pem", "ca-cert.pem", "ca.info"))
    _certtool("--generate-privkey", "--key-type", "ecdsa", "--outfile", key)
    _template(tmpl, ['cn = "%s"' % cn, "ca", "cert_signing_key",
                     "expiration_days = 30"])
    _certtool("--generate-self-signed", "--load-privkey", key,
              "--template", tmpl, "--outfile", cert)
    return d


def make_cert(d, ca_dir, who, cn, expired=False):
    """who: "server" or "client"; signed by the CA in ca_dir."""
    key = os.path.join(d, who + "-key.pem")
    cert = os.path.join(d, who + "-cert.pem")
    tmpl = os.path.join(d, who + ".info")
    _certtool("--generate-privkey", "--key-type", "ecdsa", "--outfile", key)
    lines = ['cn = "%s"' % cn, 'organization = "godwit tests"',
             "signing_key", "encryption_key"]
    if who == "server":
        lines += ["tls_www_server", 'ip_address = "127.0.0.1"',
                  'ip_address = "10.231.0.2"', 'dns_name = "localhost"']
    else:
        lines += ["tls_www_client"]
    if expired:
        lines += ['activation_date = "2020-01-01 00:00:00 UTC"',
                  'expiration_date = "2020-02-01 00:00:00 UTC"']
    else:
        lines += ["expiration_days = 30"]
    _template(tmpl, lines)
    _certtool("--generate-certificate", "--load-privkey", key,
              "--load-ca-certificate", os.path.join(ca_dir, "ca-cert.pem"),
              "--load-ca-privkey", os.path.join(ca_dir, "ca-key.pem"),
              "--template", tmpl, "--outfile", cert)


def make_creds(tmp):
    """Directories of credentials: "src" and "dst" share a CA (client CN
    "src", server CN "dst"); "rogue" trusts that CA but its certificates
    are signed by another one; "expired" has the good CA and expired
    certificates."""
    base = os.path.join(tmp, "tls")
    good = make_ca(os.path.join(base, "ca"), "godwit test CA")
    rogue_ca = make_ca(os.path.join(base, "rogue-ca"), "rogue CA")
    out = {}
    for name, ca, expired in (("src", good, False), ("dst", good, False),
                              ("rogue", rogue_ca, False),
                              ("expired", good, True)):
        d = os.path.join(base, name)
        os.makedirs(d)
        shutil.copy(os.path.join(good, "ca-cert.pem"), d)
        make_cert(d, ca, "client", name, expired)
        make_cert(d, ca, "server", name if name != "src" else "dst",
                  expired)
        out[name] = d
    return out
