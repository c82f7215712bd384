"""Compile protos/ticketing/v1/*.proto into the committed Python stubs (and type stubs)."""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = Path("protos/ticketing/v1")


def generate(out_dir: Path = ROOT) -> None:
    """Run protoc with the include path at the repository root, writing beneath out_dir."""
    include = Path(protoc.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / PROTO_DIR).glob("*.proto"))
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *protos,
        ]
    )
    if status != 0:
        sys.exit(f"protoc failed with status {status}")


if __name__ == "__main__":
    generate()
