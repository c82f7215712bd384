"""The committed gRPC stubs are exactly what the .proto files compile to."""

from pathlib import Path

from protos.generate import PROTO_DIR, ROOT, generate


def test_regenerating_the_stubs_changes_nothing(tmp_path):
    generate(tmp_path)
    generated = sorted((tmp_path / PROTO_DIR).glob("*_pb2*.py*"))
    assert len(generated) == 3 * len(list((ROOT / PROTO_DIR).glob("*.proto")))
    for fresh in generated:
        committed = ROOT / PROTO_DIR / fresh.name
        assert committed.exists(), f"{fresh.name} is not committed"
        assert committed.read_text() == fresh.read_text(), f"{fresh.name} is stale: run make protos"


def test_every_committed_stub_has_its_proto():
    for stub in (ROOT / PROTO_DIR).glob("*_pb2*.py*"):
        proto = stub.name.split("_pb2")[0] + ".proto"
        assert Path(ROOT / PROTO_DIR / proto).exists(), f"{stub.name} has no {proto}"
