"""The cluster CA: files, modes, subject/role convention, refusals, and the `certs` CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ffrtmp.cli import certs as certs_cli
from ffrtmp.tls import pki
from ffrtmp.tls.identity import identity_from_certificate


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _load(p: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(p.read_bytes())


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    d = tmp_path / "certs"
    pki.init_ca(d, hosts=["10.1.2.3", "master.example"])
    return d


def test_init_creates_four_files_with_safe_modes(ca_dir: Path) -> None:
    names = {"ca.crt", "ca.key", "master.crt", "master.key"}
    assert {p.name for p in ca_dir.iterdir()} == names
    assert _mode(ca_dir / "ca.key") == 0o600
    assert _mode(ca_dir / "master.key") == 0o600
    assert _mode(ca_dir / "ca.crt") == 0o644
    assert _mode(ca_dir / "master.crt") == 0o644


def test_ca_is_a_ca_and_signs_master(ca_dir: Path) -> None:
    ca, master = _load(ca_dir / "ca.crt"), _load(ca_dir / "master.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    master.verify_directly_issued_by(ca)
    assert not master.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_master_sans_and_usages(ca_dir: Path) -> None:
    master = _load(ca_dir / "master.crt")
    san = master.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "master.example"}
    ips = set(san.get_values_for_type(x509.IPAddress))
    assert ips == {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.1.2.3")}
    eku = master.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert identity_from_certificate(master).kind == "master"


def test_init_refuses_to_overwrite(ca_dir: Path) -> None:
    before = (ca_dir / "ca.crt").read_bytes()
    with pytest.raises(FileExistsError, match="refusing to replace the CA"):
        pki.init_ca(ca_dir)
    assert (ca_dir / "ca.crt").read_bytes() == before
    pki.init_ca(ca_dir, force=True)
    assert (ca_dir / "ca.crt").read_bytes() != before
    assert _mode(ca_dir / "ca.key") == 0o600


def test_issue_worker(ca_dir: Path) -> None:
    paths = pki.issue(ca_dir, "worker", "node-1")
    assert (paths.cert, paths.key) == (ca_dir / "node-1.crt", ca_dir / "node-1.key")
    assert _mode(paths.key) == 0o600
    cert = _load(paths.cert)
    cert.verify_directly_issued_by(_load(ca_dir / "ca.crt"))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    info = pki.describe(paths.cert)
    assert (info.common_name, info.kind, info.role) == ("node-1", "worker", None)
    assert info.sans == ("DNS:node-1",)
    assert info.subject == "CN=node-1, OU=worker"


@pytest.mark.parametrize("role", ["admin", "operator", "submitter", "viewer"])
def test_client_role_round_trips(ca_dir: Path, role: str) -> None:
    paths = pki.issue(ca_dir, "client", "alice", role=role)
    info = pki.describe(paths.cert)
    assert (info.common_name, info.kind, info.role) == ("alice", "client", role)
    assert info.subject == f"CN=alice, OU=client, OU=role:{role}"


def test_client_role_defaults_to_submitter(ca_dir: Path) -> None:
    assert pki.describe(pki.issue(ca_dir, "client", "bot").cert).role == "submitter"


def test_issue_to_out_dir_and_validity(ca_dir: Path, tmp_path: Path) -> None:
    paths = pki.issue(ca_dir, "worker", "w2", days=10, out_dir=tmp_path / "out")
    assert paths.cert.parent == tmp_path / "out"
    info = pki.describe(paths.cert)
    assert 9 <= info.days_left(dt.datetime.now(dt.UTC)) <= 10


def test_issue_refuses_to_overwrite(ca_dir: Path) -> None:
    pki.issue(ca_dir, "worker", "w1")
    with pytest.raises(FileExistsError, match="w1"):
        pki.issue(ca_dir, "worker", "w1")
    pki.issue(ca_dir, "worker", "w1", force=True)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("a" * 65, "longer than 64"),
        ("-lead", "start with a letter or digit"),
        (".hidden", "start with a letter or digit"),
        ("has space", "only"),
        ("slash/x", "only"),
        ("ünï", "only"),
        ("ca", "reserved"),
        ("master", "reserved"),
    ],
)
def test_bad_names_rejected(ca_dir: Path, name: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        pki.issue(ca_dir, "worker", name)


def test_longest_name_accepted(ca_dir: Path) -> None:
    name = "a" * 64
    assert pki.describe(pki.issue(ca_dir, "worker", name).cert).common_name == name


def test_bad_roles_rejected(ca_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        pki.issue(ca_dir, "client", "c", role="root")
    with pytest.raises(ValueError, match="no role"):
        pki.issue(ca_dir, "worker", "w", role="admin")


def test_missing_ca_error_names_file_and_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ca\.crt.*ffrtmp certs init"):
        pki.issue(tmp_path, "worker", "w1")
    assert list(tmp_path.iterdir()) == []


def test_mismatched_ca_key_rejected(tmp_path: Path) -> None:
    pki.init_ca(tmp_path / "a")
    pki.init_ca(tmp_path / "b")
    (tmp_path / "a" / "ca.key").write_bytes((tmp_path / "b" / "ca.key").read_bytes())
    with pytest.raises(ValueError, match="not the private key"):
        pki.issue(tmp_path / "a", "worker", "w1")


def test_describe_rejects_non_pem(tmp_path: Path) -> None:
    (tmp_path / "x.crt").write_text("hello")
    with pytest.raises(ValueError, match="not a PEM certificate"):
        pki.describe(tmp_path / "x.crt")


# --- the `ffrtmp certs` command group ---------------------------------------------------


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ffrtmp")
    certs_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_cli_init_issue_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FFRTMP_CERTS_DIR", str(tmp_path / "env"))
    assert _run("certs", "init", "--host", "10.0.0.9") == 0
    assert (tmp_path / "env" / "master.key").exists()
    d = str(tmp_path / "flag")
    assert _run("certs", "init", "--dir", d) == 0
    assert _run("certs", "issue", "worker", "w1", "--dir", d) == 0
    assert _run("certs", "issue", "client", "ops", "--role", "operator", "--dir", d) == 0
    out = capsys.readouterr().out
    assert "ops.crt" in out and "ops.key" in out
    assert _run("certs", "show", f"{d}/ops.crt", f"{d}/master.crt") == 0
    out = capsys.readouterr().out
    assert "role:     operator" in out and "IP:127.0.0.1" in out and "expires in" in out


def test_cli_client_requires_role(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        _run("certs", "issue", "client", "x", "--dir", str(tmp_path))
    assert e.value.code == 2


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path)
    assert _run("certs", "issue", "worker", "w1", "--dir", d) == 2
    assert _run("certs", "init", "--dir", d) == 0
    assert _run("certs", "init", "--dir", d) == 2
    assert _run("certs", "issue", "worker", "bad name", "--dir", d) == 2
    assert _run("certs", "show", str(tmp_path / "missing.crt")) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in err


def test_certs_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ffrtmp.cli.main import main as cli_main

    pki.init_ca(tmp_path)
    pki.issue(tmp_path, "client", "carol", role="operator")
    assert cli_main(["-o", "json", "certs", "show", str(tmp_path / "carol.crt")]) == 0
    [info] = json.loads(capsys.readouterr().out)
    assert (info["common_name"], info["kind"], info["role"]) == ("carol", "client", "operator")
    assert info["days_left"] > 800 and int(info["serial"], 16) > 0


def test_init_with_a_bad_host_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty host name"):
        pki.init_ca(tmp_path / "c", hosts=["ok.example", " "])
    assert not list((tmp_path / "c").glob("*"))
    pki.init_ca(tmp_path / "c", hosts=["ok.example"])  # nothing to --force over


def test_issue_master_adds_names_with_the_same_ca(tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    ca_before = (tmp_path / "ca.crt").read_bytes()
    paths = pki.write_master(*pki.load_ca(tmp_path), ["node.example", "10.0.0.5"], 30, tmp_path)
    info = pki.describe(paths.cert)
    assert {"DNS:localhost", "DNS:node.example", "IP:10.0.0.5"} <= set(info.sans)
    assert info.kind == "master" and (tmp_path / "ca.crt").read_bytes() == ca_before
